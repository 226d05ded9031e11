// The panels of a service dashboard, from one service of the model (src/vigil/model.py).
//
// A key metric's panel reads the very recording rule its alerts read, and its threshold steps are
// the catalog's numbers: what the panel shows is what the alert saw. `palette` maps severities
// (and ok, trend, band) to colours; it comes from vigil/dashboards.py, which checks them too.
local panels = import 'panels.libsonnet';

local alerts(service, severity) =
  'ALERTS{service="' + service + '",alertstate="firing"' + (if severity == '' then '' else ',severity="' + severity + '"') + '}';

local sloSelector(s, slo) = '{service="' + s.name + '",slo="' + slo.name + '"}';

{
  alerts:: alerts,

  // The series a panel reads: the recording rule for this service; per-instance metrics follow the
  // dashboard's instance picker (only for the service's own panels, not its dependencies').
  series(service, m, instanceVar)::
    m.record + '{service="' + service + '"'
    + (if instanceVar && std.member(m.by, 'instance') then ',instance=~"$instance"' else '') + '}',

  // Threshold steps from the catalog. Above: green, then warning, then critical going up. Below:
  // the bad side is low, so the lowest threshold's colour is the base and each threshold opens the
  // next better colour above it.
  metricThresholds(m, palette)::
    local ts = std.sort(m.thresholds, function(t) t.value);
    local n = std.length(ts);
    if m.direction == 'above' then
      panels.thresholds(palette.ok, [{ color: palette[t.severity], value: t.value } for t in ts])
    else
      panels.thresholds(if n == 0 then palette.ok else palette[ts[0].severity],
                        [{ color: if i + 1 < n then palette[ts[i + 1].severity] else palette.ok, value: ts[i].value } for i in std.range(0, n - 1)]),

  local alertText(m) =
    local sign = if m.direction == 'above' then ' > ' else ' < ';
    std.join('; ', [t.severity + sign + t.text + ' for ' + t['for'] for t in m.thresholds]
                   + (if m.trend == null then [] else ['trend: predicted to cross the critical threshold within ' + m.trend.within])
                   + (if m.anomaly == null then [] else ['anomaly: outside ±' + m.anomaly.sensitivity_promql + 'σ of its ' + m.anomaly.baseline + ' baseline'])),

  // The panel of one key metric: the series, its thresholds as lines, the predict_linear projection
  // when a trend alert exists and the baseline band when an anomaly alert exists.
  metricPanel(id, title, service, m, palette, instanceVar, links)::
    local sel = '{service="' + service + '"}';
    local perSeries = if std.length(m.by) == 0 then '' else std.join(' ', ['{{' + l + '}}' for l in m.by]) + ' ';
    local legend = if std.length(m.by) == 0 then m.title else std.rstripChars(perSeries, ' ');
    local k = if m.anomaly == null then '' else m.anomaly.sensitivity_promql;
    local lower = perSeries + 'normal range (−' + k + 'σ)';
    local band(sign) = m.anomaly.avg_record + sel + ' ' + sign + ' ' + k + ' * ' + m.anomaly.stddev_record + sel;
    local targets = [panels.target('A', $.series(service, m, instanceVar), legend)]
                    + (if m.trend == null then [] else [
                         panels.target('B', m.trend.record + sel, perSeries + 'predicted in ' + m.trend.within),
                       ])
                    + (if m.anomaly == null then [] else [
                         panels.target('C', band('+'), perSeries + 'normal range (+' + k + 'σ)'),
                         panels.target('D', band('-'), lower),
                       ]);
    local bandStyle = { color: { fixedColor: palette.band, mode: 'fixed' }, 'custom.fillOpacity': 15, 'custom.lineWidth': 0 };
    local thresholded = std.length(m.thresholds) > 0;
    local rules = alertText(m);
    panels.timeseries(id,
                      title,
                      m.description + (if rules == '' then '' else ' Alerts: ' + rules + '.'),
                      m.grafana_unit,
                      targets,
                      $.metricThresholds(m, palette),
                      if !thresholded then 'off' else if m.direction == 'above' then 'line' else 'line+area') {
      fieldConfig+: {
        defaults+: {
          // Grafana scales the axis to the data only; reach the highest threshold so its line shows.
          custom+: if thresholded then { axisSoftMax: std.foldl(std.max, [t.value for t in m.thresholds], 0) } else {},
        } + (if m.unit == 'ratio' then { max: 1 } else {}),  // a projection past 100% would squash the series
        overrides: (if m.trend == null then [] else [
                      panels.overrideQuery('B', { color: { fixedColor: palette.trend, mode: 'fixed' }, 'custom.lineStyle': { dash: [10, 10], fill: 'dash' } }),
                    ])
                   + (if m.anomaly == null then [] else [
                        // A filled band needs one upper and one lower series: per-instance bands stay lines.
                        panels.overrideQuery('C', bandStyle + (if perSeries == '' then { 'custom.fillBelowTo': lower } else {})),
                        panels.overrideQuery('D', bandStyle { 'custom.hideFrom': { legend: true, tooltip: false, viz: false } }),
                      ]),
      },
      links: links,
    },

  // OK / WARNING / CRITICAL from the service's firing alerts, as a word on a coloured background.
  statusPanel(id, title, description, service, palette, links)::
    panels.stat(id,
                title,
                description,
                'none',
                [panels.target('A', 'max(' + alerts(service, 'critical') + ') * 2 or max(' + alerts(service, 'warning') + ') or vector(0)', 'status')],
                panels.thresholds(palette.ok, [{ color: palette.warning, value: 1 }, { color: palette.critical, value: 2 }])) {
      fieldConfig+: {
        defaults+: {
          links: links,
          mappings: panels.valueMappings({ '0': ['OK', palette.ok], '1': ['WARNING', palette.warning], '2': ['CRITICAL', palette.critical] }),
        },
      },
      links: links,
      options+: { colorMode: 'background' },
    },

  // How many alerts of one severity fire now.
  alertCount(id, title, service, severity, palette)::
    panels.stat(id,
                title,
                'Alerts of severity ' + severity + ' firing now for ' + service + '.',
                'none',
                [panels.target('A', 'count(' + alerts(service, severity) + ') or vector(0)', severity)],
                panels.thresholds(palette.ok, [{ color: palette[severity], value: 1 }])) {
      options+: { colorMode: 'background', graphMode: 'area' },
    },

  firingTable(id, service)::
    panels.table(id,
                 'Firing alerts',
                 'What fires now: which key metric, which kind of alert, how severe.',
                 [panels.instant('A', alerts(service, ''), 'table')],
                 ['severity', 'alertname', 'key_metric', 'kind', 'instance', 'slo'],
                 'Nothing is firing'),

  about(id, s, deps)::
    panels.text(id,
                'About ' + s.name,
                s.description + '\n\n'
                + '- **Owner:** ' + s.owner_name + ' (`' + s.owner + '`)\n'
                + '- **Tier:** ' + s.tier + (if s.customer_facing then ', customer-facing' else ', internal') + '\n'
                + '- **Runbook:** [' + s.runbook_url + '](' + s.runbook_url + ')\n'
                + '- **Depends on:** '
                + (if std.length(deps) == 0 then 'no other catalog service'
                   else std.join(', ', ['[' + d.name + '](' + d.dashboard.url + ')' for d in deps])) + '\n'),

  // Burn-rate steps of an SLO: the factor of each window pair its alerts use, in that alert's colour.
  burnThresholds(slo, palette)::
    panels.thresholds(palette.ok, std.sort([{ color: palette[a.severity], value: w.factor } for a in slo.alerts for w in a.windows],
                                           function(step) step.value)),

  // One stat/gauge series per SLO, each with its own thresholds (they differ per SLO).
  local perSlo(s, expr, legend, thresholds) = {
    targets: [panels.target(slo.name, expr(slo), legend(slo)) for slo in s.slos],
    overrides: [panels.overrideQuery(slo.name, { thresholds: thresholds(slo) }) for slo in s.slos],
  },

  sloAttainment(id, s, palette)::
    local q = perSlo(s,
                     function(slo) '1 - ' + slo.records.error_ratio[slo.period] + sloSelector(s, slo),
                     function(slo) slo.name + ' (objective ' + slo.objective_text + ')',
                     function(slo) panels.thresholds(palette.critical, [{ color: palette.ok, value: slo.objective }]));
    panels.stat(id,
                'SLO attainment (' + s.slos[0].period + ')',
                'Share of good events over the SLO period; red below the objective.',
                'percentunit',
                q.targets,
                panels.thresholds(palette.ok, [])) {
      fieldConfig+: { defaults+: { decimals: 2 }, overrides: q.overrides },
    },

  budgetGauge(id, s, palette)::
    local q = perSlo(s,
                     function(slo) slo.records.remaining + sloSelector(s, slo),
                     function(slo) slo.name,
                     function(slo) panels.thresholds(palette.critical, [{ color: palette.ok, value: 0 }]));
    panels.gauge(id,
                 'Error budget left (' + s.slos[0].period + ')',
                 'Share of the error budget not yet spent over the SLO period; red when it is spent.',
                 'percentunit',
                 q.targets,
                 panels.thresholds(palette.ok, []),
                 0,
                 1) {
      fieldConfig+: { overrides: q.overrides },
    },

  burnStat(id, s, palette)::
    local q = perSlo(s,
                     function(slo) slo.records.burn_rate + sloSelector(s, slo),
                     function(slo) slo.name,
                     function(slo) $.burnThresholds(slo, palette));
    panels.stat(id,
                'Burn rate (1h)',
                'How fast the error budget burns: 1 spends it exactly over the SLO period. Steps at the factors of the burn-rate alerts.',
                'suffix:×',
                q.targets,
                panels.thresholds(palette.ok, [])) {
      fieldConfig+: { defaults+: { decimals: 1 }, overrides: q.overrides },
    },

  // The panel burn-rate alerts link to: the error ratio of every window as a burn rate, with the
  // alert factors as threshold lines.
  sloPanel(s, slo, palette)::
    panels.timeseries(slo.panel_id,
                      slo.name + ' SLO: burn rate per window',
                      slo.description + ' Objective ' + slo.objective_text + ' over ' + slo.period
                      + '. Burn rate = error ratio / error budget (' + slo.budget_promql + '). Alerts fire when both windows of a pair exceed its factor: '
                      + std.join('; ', [a.severity + ' ' + std.join(', ', [w.short + '+' + w.long + ' > ' + w.factor for w in a.windows]) for a in slo.alerts]) + '.',
                      'suffix:×',
                      [panels.target(w, slo.records.error_ratio[w] + sloSelector(s, slo) + ' / ' + slo.budget_promql, w) for w in slo.windows],
                      $.burnThresholds(slo, palette),
                      'line') {
      links: [panels.link('Runbook: ' + slo.name + ' SLO', slo.runbook_url)],
    },
}
