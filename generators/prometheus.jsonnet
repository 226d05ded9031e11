// Prometheus rules for one service: output/prometheus/rules/<service>.yaml.
// Input (top-level argument): `service`, one element of the model's services (src/vigil/model.py).
local metricRules = import 'lib/metric_rules.libsonnet';
local promql = import 'lib/promql.libsonnet';
local rules = import 'lib/rules.libsonnet';
local sloRules = import 'lib/slo_rules.libsonnet';

function(service, settings)
  local s = service;
  local serviceDown = rules.alert(
    s,
    s.service_down.alert,
    'absent(up{' + s.selector_promql + '} == 1)',
    s.service_down['for'],
    'critical',
    'up',
    'absent',
    s.name + ': down, no target scraped successfully',
    'No target of ' + s.name + ' has been scraped successfully for ' + s.service_down['for']
    + ': the service or its exporter is down, or the scrape is broken.',
    s.runbook_url + '#up',
    s.dashboard.url
  );
  local baseline = std.flattenArrays([metricRules.baselineRecords(s, m) for m in s.metrics])
                   + std.flattenArrays([sloRules.baselineRecords(s, slo) for slo in s.slos]);
  {
    groups: [
      {
        name: 'vigil-' + s.name,
        // Records first, then alerts: within a group rules run in order, so an alert always reads
        // the record computed in the same evaluation (no extra interval of detection delay).
        rules: std.flattenArrays([metricRules.records(s, m) for m in s.metrics])
               + std.flattenArrays([sloRules.records(s, slo) for slo in s.slos])
               + [serviceDown]
               + std.flattenArrays([metricRules.alerts(s, m) for m in s.metrics])
               + std.flattenArrays([sloRules.alerts(s, slo) for slo in s.slos]),
      },
    ] + (if std.length(baseline) == 0 then [] else [
           { name: 'vigil-' + s.name + '-baseline', interval: settings.baseline_interval, rules: baseline },
         ]),
  }
