// Recording and alerting rules for one key metric: threshold, trend, anomaly and absent alerts.
local promql = import 'promql.libsonnet';
local rules = import 'rules.libsonnet';

local worse(m) = if m.direction == 'above' then 'above' else 'below';
local current(s, m) = promql.series(m.record, s.name);

{
  records(s, m)::
    [rules.record(m.record, m.expr, s.record_labels)]
    + (if m.trend == null then [] else [
         rules.record(m.trend.record,
                      'predict_linear(' + current(s, m) + '[' + m.trend.window + '], ' + m.trend.within_seconds + ')',
                      s.record_labels),
       ]),

  // The slow baseline (avg and stddev over e.g. a week, leaving out the last hour so that an
  // incident does not hide in its own baseline) lives in its own, less frequent group.
  baselineRecords(s, m)::
    if m.anomaly == null then [] else [
      rules.record(m.anomaly.avg_record, 'avg_over_time(' + current(s, m) + '[' + m.anomaly.baseline + '] offset ' + m.anomaly.skip_recent + ')', s.record_labels),
      rules.record(m.anomaly.stddev_record, 'stddev_over_time(' + current(s, m) + '[' + m.anomaly.baseline + '] offset ' + m.anomaly.skip_recent + ')', s.record_labels),
    ],

  local thresholdAlert(s, m, t) =
    rules.alert(
      s,
      t.alert,
      current(s, m) + ' ' + m.comparator + ' ' + t.promql,
      t['for'],
      t.severity,
      m.id,
      'threshold',
      s.name + ': ' + m.title + ' ' + worse(m) + ' ' + t.severity + ' threshold',
      m.title + ' of ' + s.name + promql.onLabels(m.by) + ' is ' + promql.value(m.humanize) + ', ' + worse(m)
      + ' the ' + t.severity + ' threshold of ' + t.text + ' for ' + t['for'] + '.',
      m.runbook_url,
      m.dashboard_url,
      t.keep_firing_for
    ) + rules.because(m),

  local critical(m) = [t for t in m.thresholds if t.severity == 'critical'][0],

  local trendAlert(s, m) =
    local c = critical(m);
    rules.alert(
      s,
      m.trend.alert,
      promql.series(m.trend.record, s.name) + ' ' + m.comparator + ' ' + c.promql
      + ' and ' + current(s, m) + ' ' + (if m.direction == 'above' then '<=' else '>=') + ' ' + c.promql,
      m.trend['for'],
      'warning',
      m.id,
      'trend',
      s.name + ': ' + m.title + ' predicted to cross its critical threshold within ' + m.trend.within,
      m.title + ' of ' + s.name + promql.onLabels(m.by) + ' is predicted to reach ' + promql.value(m.humanize)
      + ' within ' + m.trend.within + ' (critical threshold ' + c.text + '), from its trend over the last ' + m.trend.window + '.',
      m.runbook_url,
      m.dashboard_url
    ) + rules.because(m),

  // Outside mean ± k·stddev of the metric's own baseline. The stddev must exceed a billionth of
  // the mean: a flat baseline's stddev is float noise (1e-15 of a constant rate), which engines
  // round differently, so a constant metric never alerts on its first wiggle, nor on rounding.
  local anomalyAlert(s, m) =
    local avg = promql.series(m.anomaly.avg_record, s.name);
    local spread = '(' + promql.series(m.anomaly.stddev_record, s.name) + ' > abs(' + avg + ') * 1e-09)';
    local band(sign) = avg + ' ' + sign + ' ' + m.anomaly.sensitivity_promql + ' * ' + spread;
    rules.alert(
      s,
      m.anomaly.alert,
      current(s, m) + ' > ' + band('+') + ' or ' + current(s, m) + ' < ' + band('-'),
      m.anomaly['for'],
      'warning',
      m.id,
      'anomaly',
      s.name + ': ' + m.title + ' deviates from its ' + m.anomaly.baseline + ' baseline',
      m.title + ' of ' + s.name + promql.onLabels(m.by) + ' is ' + promql.value(m.humanize) + ', more than '
      + m.anomaly.sensitivity_promql + ' standard deviations away from its ' + m.anomaly.baseline + ' average.',
      m.runbook_url,
      m.dashboard_url,
      m.anomaly.keep_firing_for
    ) + rules.because(m),

  local absentAlert(s, m) =
    rules.alert(
      s,
      m.absent.alert,
      'absent(' + current(s, m) + ')',
      m.absent['for'],
      'warning',
      m.id,
      'absent',
      s.name + ': no data for ' + m.title,
      m.title + ' of ' + s.name + ' has had no data for ' + m.absent['for'] + ': its exporter is down, its scrape is broken, or its metric was renamed.',
      m.runbook_url,
      m.dashboard_url
    ),

  alerts(s, m)::
    [thresholdAlert(s, m, t) for t in m.thresholds]
    + (if m.trend == null then [] else [trendAlert(s, m)])
    + (if m.anomaly == null then [] else [anomalyAlert(s, m)])
    + (if m.absent == null then [] else [absentAlert(s, m)]),
}
