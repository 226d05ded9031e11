// The dashboard object, its variables, annotations and links, and the grid layout.
local panels = import 'panels.libsonnet';

{
  // Grafana 10.4/11 write 39; newer Grafana migrates it up on load, older ones cannot read
  // datasource references by uid (36+), so dashboard_checks.py requires at least 36.
  schemaVersion:: 39,

  dashboard(uid, title, description, tags, refresh, links, variables, annotations, panelList):: {
    annotations: { list: [$.builtInAnnotations] + annotations },
    description: description,
    // Generated from the catalog: a change made in the UI would be overwritten by the next deploy.
    editable: false,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,  // shared crosshair: the same instant on every panel, dependencies included
    id: null,
    links: links,
    liveNow: false,
    panels: panelList,
    refresh: refresh,
    schemaVersion: $.schemaVersion,
    tags: std.sort(tags),
    templating: { list: variables },
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title: title,
    uid: uid,
    weekStart: '',
  },

  // The datasource picker; every query uses it. `default` is catalog/vigil.yaml's datasource_uid.
  datasourceVariable(default):: {
    current: { text: default, value: default },
    hide: 0,
    includeAll: false,
    label: 'Data source',
    multi: false,
    name: 'datasource',
    options: [],
    query: 'prometheus',
    refresh: 1,
    regex: '',
    type: 'datasource',
  },

  // A multi-value label filter filled by a PromQL label_values() query; "All" matches everything.
  queryVariable(name, label, query):: {
    allValue: '.*',
    current: { text: ['All'], value: ['$__all'] },
    datasource: panels.datasource,
    definition: query,
    hide: 0,
    includeAll: true,
    label: label,
    multi: true,
    name: name,
    options: [],
    query: query,
    refresh: 2,
    regex: '',
    sort: 1,
    type: 'query',
  },

  builtInAnnotations:: {
    builtIn: 1,
    datasource: { type: 'grafana', uid: '-- Grafana --' },
    enable: true,
    hide: true,
    iconColor: 'rgba(0, 211, 255, 1)',
    name: 'Annotations & Alerts',
    type: 'dashboard',
  },

  // Firing periods of the alerts `expr` selects, drawn on every time series panel.
  alertAnnotation(name, expr, color, step):: {
    datasource: panels.datasource,
    enable: true,
    expr: expr,
    hide: false,
    iconColor: color,
    name: name,
    step: step,
    tagKeys: 'severity,key_metric,kind',
    textFormat: '{{key_metric}} ({{kind}})',
    titleFormat: '{{alertname}}',
    useValueForTime: false,
  },

  // The dropdown of every vigil dashboard, in the top bar.
  taggedDashboards(title, tag):: panels.link(title, '') {
    asDropdown: true,
    tags: [tag],
    type: 'dashboards',
    url:: null,
  },

  local tile(section, y) =
    local n = std.length(section.panels);
    local perRow = std.floor(24 / section.w);
    {
      panels: [
        section.panels[i] {
          gridPos: { h: section.h, w: section.w, x: (i % perRow) * section.w, y: y + std.floor(i / perRow) * section.h },
        }
        for i in std.range(0, n - 1)
      ],
      height: std.ceil(n / perRow) * section.h,
    },

  local place(section, y) = {
    panels: [p { gridPos+: { y: y + p.gridPos.y } } for p in section.placed],
    height: section.height,
  },

  // Stacks sections top to bottom and returns the positioned panels. A section is either
  //   {row: a row panel or null, panels: [...], w, h}: equal-sized panels tiled left to right,
  //       wrapping at 24 columns, under an optional row header; or
  //   {placed: [...], height}: panels whose gridPos is already set relative to the section's top.
  layout(sections)::
    local step(acc, section) =
      local rowHeight = if std.objectHas(section, 'row') && section.row != null then 1 else 0;
      local body = if std.objectHas(section, 'placed') then place(section, acc.y + rowHeight) else tile(section, acc.y + rowHeight);
      {
        y: acc.y + rowHeight + body.height,
        panels: acc.panels + (if rowHeight == 1 then [section.row { gridPos+: { y: acc.y } }] else []) + body.panels,
      };
    std.foldl(step, sections, { y: 0, panels: [] }).panels,
}
