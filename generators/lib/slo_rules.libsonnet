// SLO rules: error ratios per window, error budget, burn rate, and multi-window multi-burn-rate
// alerts (Google SRE workbook, "Alerting on SLOs").
local promql = import 'promql.libsonnet';
local rules = import 'rules.libsonnet';

local labels(s, slo) = s.record_labels { slo: slo.name };
local sel(s, slo) = '{service="' + s.name + '",slo="' + slo.name + '"}';
local errorRecord(w) = 'slo:sli_error:ratio_rate' + w;

{
  records(s, slo)::
    [
      rules.record(errorRecord(w),
                   '(' + std.strReplace(slo.errors, '$window', w) + ') / (' + std.strReplace(slo.total, '$window', w) + ')',
                   labels(s, slo))
      for w in slo.windows
    ]
    + [
      rules.record('slo:objective:ratio', 'vector(' + slo.objective_promql + ')', labels(s, slo)),
      rules.record('slo:error_budget:ratio', 'vector(' + slo.budget_promql + ')', labels(s, slo)),
      rules.record('slo:burn_rate:ratio_rate1h', errorRecord('1h') + sel(s, slo) + ' / ' + slo.budget_promql, labels(s, slo)),
    ],

  // Attainment over the whole period averages the 5m ratio, as Sloth does: cheap, and it survives
  // counter resets. Evaluated in the slow baseline group.
  baselineRecords(s, slo)::
    [
      rules.record(errorRecord(slo.period),
                   'sum_over_time(' + errorRecord('5m') + sel(s, slo) + '[' + slo.period + ']) / count_over_time('
                   + errorRecord('5m') + sel(s, slo) + '[' + slo.period + '])',
                   labels(s, slo)),
      rules.record('slo:error_budget:remaining_ratio',
                   '1 - ' + errorRecord(slo.period) + sel(s, slo) + ' / ' + slo.budget_promql,
                   labels(s, slo)),
    ],

  local condition(s, slo, w) =
    '(' + errorRecord(w.short) + sel(s, slo) + ' > ' + w.promql + ' and ' + errorRecord(w.long) + sel(s, slo) + ' > ' + w.promql + ')',

  local burnAlert(s, slo, burn) =
    local kind = if burn.severity == 'critical' then 'page' else 'ticket';
    rules.alert(
      s,
      slo.camel + 'ErrorBudgetBurn',
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
    ) + { labels+: { slo: slo.name } },

  alerts(s, slo):: [burnAlert(s, slo, burn) for burn in slo.alerts],
}
