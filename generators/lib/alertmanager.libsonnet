// Building blocks of the Alertmanager config: matchers, routes, receivers, inhibition rules.
// Input is the model's `departments` (src/vigil/catalog/resolve.py: resolve_departments).
{
  // Label matchers as strings (`matchers:`, not the deprecated `match:`). Every value here is an
  // id or enum value that validation restricted to [a-z0-9-], so nothing needs escaping.
  eq(name, value):: name + '="' + value + '"',
  oneOf(name, values)::
    if std.length(values) == 1 then self.eq(name, values[0]) else name + '=~"' + std.join('|', values) + '"',

  timings(dept):: {
    group_wait: dept.group_wait,
    group_interval: dept.group_interval,
    repeat_interval: dept.repeat_interval,
  },

  // One route: one propagation line told to one department. Owner lines also match the `team`
  // label, so the tree has one route per owning department, never one per service.
  // `continue: true` lets every matching line apply; the catch-all root gets only what none took.
  route(policy, dept, owner)::
    {
      receiver: dept.id + '/' + policy.channel,
      matchers: (if owner then [$.eq('team', dept.id)] else [])
                + [$.oneOf('severity', policy.severity)]
                + [$.oneOf(label, policy.when[label]) for label in std.objectFields(policy.when)],
      continue: true,
    } + $.timings(dept)
    + (if std.length(dept.active_hours) == 0 then {} else { active_time_intervals: dept.active_hours }),

  // Every route, in propagation order, `owner` expanded in the (sorted) order of `owners`.
  routes(departments, owners)::
    local byId = { [d.id]: d for d in departments.departments };
    std.flattenArrays([
      std.flattenArrays([
        if target == 'owner' then [$.route(policy, byId[o], true) for o in owners]
        else [$.route(policy, byId[target], false)]
        for target in policy.notify
      ])
      for policy in departments.propagation
    ]),

  // Catalog kinds are Alertmanager's `<kind>_configs`, except msteams: the Teams Workflows
  // integration (the connector-based `msteams_configs` is retired by Microsoft).
  receiver(channel):: {
    name: channel.receiver,
    [if channel.kind == 'msteams' then 'msteamsv2_configs' else channel.kind + '_configs']: [channel.config],
  },

  // Inhibition, so one incident pages once:
  // - a critical alert silences the warning of the same service and key metric;
  // - ServiceDown (kind absent on `up`: the service's data are gone) silences the service's other
  //   alerts, which are noise while nothing is scraped;
  // - an SLO page silences the same SLO's ticket.
  // `extra` (settings.extra_labels, e.g. cluster) is in every `equal`, so that one cluster's
  // alert never silences another's in a shared Alertmanager.
  inhibitRules(extra):: [
    {
      source_matchers: [$.eq('severity', 'critical')],
      target_matchers: [$.eq('severity', 'warning')],
      equal: ['service', 'key_metric'] + extra,
    },
    {
      source_matchers: [$.eq('kind', 'absent'), $.eq('key_metric', 'up')],
      target_matchers: ['key_metric!="up"'],
      equal: ['service'] + extra,
    },
    {
      source_matchers: [$.eq('kind', 'slo_burn'), $.eq('severity', 'critical')],
      target_matchers: [$.eq('kind', 'slo_burn'), $.eq('severity', 'warning')],
      equal: ['service', 'slo'] + extra,
    },
  ],

  global(departments)::
    if departments.smtp == null then {}
    else { global: { ['smtp_' + k]: departments.smtp[k] for k in std.objectFields(departments.smtp) } },

  timeIntervals(departments)::
    local names = std.objectFields(departments.time_intervals);
    if std.length(names) == 0 then {}
    else { time_intervals: [{ name: n, time_intervals: departments.time_intervals[n] } for n in names] },
}
