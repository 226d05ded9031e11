// The Alertmanager config: output/alertmanager/alertmanager.yaml.
// Inputs (top-level arguments): `departments`, the model's departments (resolve_departments);
// `owners`, the sorted ids of departments that own services; `settings`, the model's settings.
// The tree's size is (propagation lines × departments told), whatever the number of services.
local am = import 'lib/alertmanager.libsonnet';

function(departments, owners, settings)
  local d = departments;
  local extra = std.objectFields(settings.extra_labels);
  local catchAll = [x for x in d.departments if x.id == d.catch_all.department][0];
  am.global(d) + am.timeIntervals(d) + {
    route: {
      // Nothing is dropped silently: what no propagation line takes goes to the catch-all.
      receiver: d.catch_all.receiver,
      // One incident, one notification: per alert name and service (and cluster, etc.), never
      // per instance or per key_metric value, so a fleet-wide failure is one message.
      group_by: ['alertname', 'service'] + extra,
      routes: am.routes(d, owners),
    } + am.timings(catchAll),
    receivers: [am.receiver(c) for dept in d.departments for c in dept.channels],
    inhibit_rules: am.inhibitRules(extra),
  }
