// SLO rules: error ratios per window, error budget, burn rate, and multi-window multi-burn-rate
// alerts (Google SRE workbook, "Alerting on SLOs").
local promql = import 'promql.libsonnet';
local rules = import 'rules.libsonnet';

local labels(s, slo) = s.record_labels { slo: slo.name };
local sel(s, slo) = '{service="' + s.name + '",slo="' + slo.name + '"}';

{
  records(s, slo)::
    [
      rules.record(slo.records.error_ratio[w],
                   '(' + std.strReplace(slo.errors, '$window', w) + ') / (' + std.strReplace(slo.total, '$window', w) + ')',
                   labels(s, slo))
      for w in slo.windows
    ]
    + [
      rules.record(slo.records.objective, 'vector(' + slo.objective_promql + ')', labels(s, slo)),
      rules.record(slo.records.budget, 'vector(' + slo.budget_promql + ')', labels(s, slo)),
      rules.record(slo.records.burn_rate, slo.records.error_ratio['1h'] + sel(s, slo) + ' / ' + slo.budget_promql, labels(s, slo)),
    ],

  // Attainment over the whole period averages the 5m ratio, as Sloth does: cheap, and it survives
  // counter resets. Evaluated in the slow baseline group.
  baselineRecords(s, slo)::
    [
      rules.record(slo.records.error_ratio[slo.period],
                   'sum_over_time(' + slo.records.error_ratio['5m'] + sel(s, slo) + '[' + slo.period + ']) / count_over_time('
                   + slo.records.error_ratio['5m'] + sel(s, slo) + '[' + slo.period + '])',
                   labels(s, slo)),
      rules.record(slo.records.remaining,
                   '1 - ' + slo.records.error_ratio[slo.period] + sel(s, slo) + ' / ' + slo.budget_promql,
                   labels(s, slo)),
    ],

  local condition(s, slo, w) =
    '(' + slo.records.error_ratio[w.short] + sel(s, slo) + ' > ' + w.promql + ' and ' + slo.records.error_ratio[w.long] + sel(s, slo) + ' > ' + w.promql + ')',

  local burnAlert(s, slo, burn) =
    local kind = if burn.severity == 'critical' then 'page' else 'ticket';
    rules.alert(
      s,
      burn.alert,
      std.join(' or ', [condition(s, slo, w) for w in burn.windows]),
      burn['for'],
      burn.severity,
      slo.name,
      'slo_burn',
      s.name + ': ' + slo.name + ' SLO error budget burning fast (' + kind + ')',
      s.name + ' ' + slo.name + ' SLO (' + slo.objective_text + ' over ' + slo.period + '): error ratio '
      + promql.value('humanizePercentage') + ' over the short window burns the budget faster than '
      + std.join(' / ', [std.toString(w.factor) + 'x over ' + w.long for w in burn.windows]) + '.',
      slo.runbook_url,
      slo.dashboard_url
    ) + { labels+: { slo: slo.name } } + rules.because(slo),

  alerts(s, slo):: [burnAlert(s, slo, burn) for burn in slo.alerts],
}
