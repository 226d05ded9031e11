// The wall screen, output/grafana/dashboards/<overview uid>.json, and the folder manifest
// output/grafana/folders.json (which department folder each dashboard goes into, for deploy).
// Top-level arguments: `services` (the model's services, trimmed by vigil/dashboards.py to what is
// read here), `settings`, `palette`, `overview` ({uid, title, url}).
local dash = import 'lib/dashboard.libsonnet';
local svc = import 'lib/dashboard_service.libsonnet';
local panels = import 'lib/panels.libsonnet';

local firingServices(severity) =
  // key_metric is on every vigil alert and on no other: only catalog services are counted.
  'count(count by (service) (ALERTS{alertstate="firing",severity="' + severity + '",key_metric!=""})) or vector(0)';

function(services, settings, palette, overview)
  local ordered = std.sort(services, function(s) s.dashboard.folder + ' ' + s.tier + ' ' + s.name);
  local folders = std.set([s.dashboard.folder for s in ordered]);
  local inFolder(f) = [s for s in ordered if s.dashboard.folder == f];
  local firstService = 10 + std.length(folders);

  local header = {
    placed: [
      panels.stat(1,
                  'Services with critical alerts',
                  'Catalog services with at least one critical alert firing.',
                  'none',
                  [panels.target('A', firingServices('critical'), 'critical')],
                  panels.thresholds(palette.ok, [{ color: palette.critical, value: 1 }])) {
        gridPos: { h: 4, w: 4, x: 0, y: 0 },
        options+: { colorMode: 'background' },
      },
      panels.stat(2,
                  'Services with warnings',
                  'Catalog services with at least one warning alert firing.',
                  'none',
                  [panels.target('A', firingServices('warning'), 'warning')],
                  panels.thresholds(palette.ok, [{ color: palette.warning, value: 1 }])) {
        gridPos: { h: 4, w: 4, x: 0, y: 4 },
        options+: { colorMode: 'background' },
      },
      panels.table(3,
                   'Firing alerts',
                   'Every alert of a catalog service firing now.',
                   [panels.instant('A', 'ALERTS{alertstate="firing",key_metric!=""}', 'table')],
                   ['severity', 'service', 'team', 'alertname', 'key_metric', 'kind', 'instance'],
                   'Nothing is firing') {
        gridPos: { h: 8, w: 20, x: 4, y: 0 },
      },
    ],
    height: 8,
  };

  // A service tile: its status word, and the least error budget left among its SLOs.
  local tile(s, id) =
    local link = panels.link('Open the ' + s.name + ' dashboard', s.dashboard.url);
    local budget = std.length(s.slos) > 0;
    svc.statusPanel(id,
                    s.name,
                    s.description + ' (tier ' + s.tier + (if s.customer_facing then ', customer-facing)' else ')'),
                    s.name,
                    palette,
                    [link]) {
      targets+: if !budget then [] else [
        panels.target('B', 'min(' + s.budget_record + '{service="' + s.name + '"})', 'budget left'),
      ],
      fieldConfig+: {
        overrides: if !budget then [] else [
          panels.overrideQuery('B', {
            decimals: 1,
            mappings: [],
            thresholds: panels.thresholds(palette.critical, [{ color: palette.ok, value: 0 }]),
            unit: 'percentunit',
          }),
        ],
      },
      options+: { textMode: if budget then 'value_and_name' else 'value' },
    };

  local index = std.flattenArrays([inFolder(f) for f in folders]);
  local tiles = [tile(index[j], firstService + j) { folder:: index[j].dashboard.folder } for j in std.range(0, std.length(index) - 1)];
  local sections = [
    {
      local members = inFolder(folders[i]),
      row: panels.row(10 + i, members[0].dashboard.folder_title),
      panels: [t for t in tiles if t.folder == folders[i]],
      w: 4,
      h: 4,
    }
    for i in std.range(0, std.length(folders) - 1)
  ];

  {
    dashboard: dash.dashboard(
      overview.uid,
      overview.title,
      'Every catalog service by department: what fires now and how much error budget is left.',
      ['vigil', 'overview'],
      settings.evaluation_interval,
      [dash.taggedDashboards('vigil dashboards', 'vigil')],
      [dash.datasourceVariable(settings.datasource_uid)],
      [],
      dash.layout([header] + sections)
    ),
    folders: {
      folders: [
        {
          local members = inFolder(f),
          dashboards: std.sort([s.dashboard.uid for s in members]),
          department: f,
          title: members[0].dashboard.folder_title,
          uid: members[0].dashboard.folder_uid,
        }
        for f in folders
      ],
      general: [overview.uid],
    },
  }
