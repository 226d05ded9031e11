// The dashboard of one service: output/grafana/dashboards/<uid>.json.
// Top-level arguments: `service` (one element of the model's services, src/vigil/model.py), `deps`
// (the services it depends on, same shape), `settings`, `palette` and `overview` (from
// vigil/dashboards.py).
//
// Layout: a header (firing alerts, SLO attainment, budget, burn rate, about), a row of
// SLO panels, a row per profile with a panel per key metric, and a dependencies row. Key metric
// and SLO panels take the panel ids of the model, which alerts' dashboard_url deep-link to.
local dash = import 'lib/dashboard.libsonnet';
local svc = import 'lib/dashboard_service.libsonnet';
local panels = import 'lib/panels.libsonnet';

function(service, deps, settings, palette, overview)
  local s = service;
  local hasSlos = std.length(s.slos) > 0;
  local ids = s.dashboard.panels;  // decided in the model (catalog/resolve.py), as every panel id

  local header = {
    placed: [
      svc.alertCount(ids.critical_alerts, 'Critical alerts', s.name, 'critical', palette) { gridPos: { h: 3, w: 4, x: 0, y: 0 } },
      svc.alertCount(ids.warning_alerts, 'Warning alerts', s.name, 'warning', palette) { gridPos: { h: 4, w: 4, x: 0, y: 3 } },
      svc.about(ids.about, s, deps) { gridPos: { h: 7, w: 9, x: 4, y: 0 } },
      svc.firingTable(ids.firing, s.name) { gridPos: { h: 7, w: 11, x: 13, y: 0 } },
    ] + (if !hasSlos then [] else [
           svc.sloAttainment(ids.attainment, s, palette) { gridPos: { h: 5, w: 8, x: 0, y: 7 } },
           svc.budgetGauge(ids.budget, s, palette) { gridPos: { h: 5, w: 8, x: 8, y: 7 } },
           svc.burnStat(ids.burn_rate, s, palette) { gridPos: { h: 5, w: 8, x: 16, y: 7 } },
         ]),
    height: if hasSlos then 12 else 7,
  };

  // Rows and dependency panels take the ids after the model's (which alerts deep-link to).
  local firstFree = ids.first_free;

  local groups = [
    { title: if p == 'service' then s.name + ' key metrics' else p + ' key metrics', metrics: [m for m in s.metrics if m.profile == p] }
    for p in s.profiles + ['service']
  ];
  local metricGroups = [g for g in groups if std.length(g.metrics) > 0];
  local rowTitles = (if hasSlos then ['SLOs'] else []) + [g.title for g in metricGroups]
                    + (if std.length(deps) == 0 then [] else ['Dependencies']);
  local row(title) = panels.row(firstFree + std.find(title, rowTitles)[0], title);

  local sloSection = if !hasSlos then [] else [
    { row: row('SLOs'), panels: [svc.sloPanel(s, slo, palette) for slo in s.slos], w: 12, h: 8 },
  ];

  local metricSections = [
    {
      row: row(g.title),
      panels: [
        svc.metricPanel(m.panel_id, m.title, s.name, m, palette, true, [panels.link('Runbook: ' + m.title, m.runbook_url)])
        for m in g.metrics
      ],
      w: 8,
      h: 8,
    }
    for g in metricGroups
  ];

  // Dependencies: per service, its status, then its thresholded key metrics, each linking to it.
  local depItems = std.flattenArrays([
    [{ dep: i, metric: null }]
    + [{ dep: i, metric: m } for m in deps[i].metrics if std.length(m.thresholds) > 0]
    for i in std.range(0, std.length(deps) - 1)
  ]);
  local depFirst = firstFree + std.length(rowTitles);
  local depPanel(item, id) =
    local d = deps[item.dep];
    if item.metric == null then
      svc.statusPanel(id, d.name + ': status', d.description, d.name, palette, [panels.link('Open the ' + d.name + ' dashboard', d.dashboard.url)])
    else
      svc.metricPanel(id,
                      d.name + ': ' + item.metric.title,
                      d.name,
                      item.metric,
                      palette,
                      false,
                      [panels.link('Open in the ' + d.name + ' dashboard', item.metric.dashboard_url)]);
  local depPanels = [depPanel(depItems[j], depFirst + j) { dep:: depItems[j].dep } for j in std.range(0, std.length(depItems) - 1)];
  local depSections = [
    { row: if i == 0 then row('Dependencies') else null, panels: [p for p in depPanels if p.dep == i], w: 6, h: 6 }
    for i in std.range(0, std.length(deps) - 1)
  ];

  dash.dashboard(
    s.dashboard.uid,
    s.dashboard.title,
    s.description,
    ['vigil', s.owner, 'tier-' + s.tier],
    settings.evaluation_interval,
    [
      panels.link('Runbook', s.runbook_url),
      panels.link('Overview', overview.url),
    ]
    + [panels.link(d.name, d.dashboard.url) { tooltip: 'Dependency: ' + d.description } for d in deps]
    + [dash.taggedDashboards('vigil dashboards', 'vigil')],
    [
      dash.datasourceVariable(settings.datasource_uid),
      dash.queryVariable('instance', 'Instance', 'label_values(up{' + s.selector_promql + '}, instance)'),
    ],
    [
      dash.alertAnnotation('Critical alerts', svc.alerts(s.name, 'critical'), palette.critical, settings.evaluation_interval),
      dash.alertAnnotation('Warning alerts', svc.alerts(s.name, 'warning'), palette.warning, settings.evaluation_interval),
    ],
    dash.layout([header] + sloSection + metricSections + depSections)
  )
