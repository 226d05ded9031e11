// A small Grafana panel library: only what vigil draws (Grafonnet cannot be installed here).
//
// Each constructor spells out the options Grafana's schema requires, so that the dashboards
// validate and a Grafana upgrade does not rewrite them on first save. Positions (gridPos) are set
// by dashboard.libsonnet's layout; ids by the caller. Strings are joined with `+` only: std.format
// is ~20x slower, and these run for every panel of every service.
//
// Conventions ("types"): `thresholds` is the object built by `thresholds()`, `targets` a list built
// by `target()`/`instant()`, colours are Grafana's named colours.
{
  // A Prometheus datasource reference. Every panel uses the dashboard's `datasource` variable, so a
  // dashboard follows the datasource picked at the top (its default comes from catalog/vigil.yaml).
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // A range query: one or more series over the dashboard's time range. Queries inherit the panel's
  // datasource, and Grafana's defaults are left out: a dashboard costs ~0.15 ms of Jsonnet per KB.
  target(refId, expr, legend):: {
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    refId: refId,
  },

  // An instant query at the end of the range, e.g. for a table of what is firing now.
  instant(refId, expr, format):: {
    editorMode: 'code',
    expr: expr,
    format: format,
    instant: true,
    range: false,
    refId: refId,
  },

  // Threshold steps: `base` colours everything below the first step; steps are [{value, color}]
  // and must be sorted by value (Grafana's rule: a value gets the colour of the last step <= it).
  thresholds(base, steps):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + steps,
  },

  // A link in Grafana's DashboardLink shape (panel links and data links accept it as is).
  link(title, url):: {
    asDropdown: false,
    icon: 'external link',
    includeVars: false,
    keepTime: true,
    tags: [],
    targetBlank: false,
    title: title,
    tooltip: '',
    type: 'link',
    url: url,
  },

  // Value mappings: {value (as text): [text, colour]}, e.g. a status code shown as a word.
  valueMappings(map):: [{
    type: 'value',
    options: {
      [k]: { color: map[k][1], text: map[k][0] }
      for k in std.objectFields(map)
    },
  }],

  // Override the field config of one query's series (matched by its refId).
  overrideQuery(refId, properties):: {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [{ id: k, value: properties[k] } for k in std.objectFields(properties)],
  },

  local base(type, id, title, description) = {
    type: type,
    id: id,
    title: title,
    description: description,
    datasource: $.datasource,
    gridPos: { h: 8, w: 8, x: 0, y: 0 },
    links: [],
    targets: [],
    fieldConfig: { defaults: {}, overrides: [] },
    options: {},
  },

  local reduce = { calcs: ['lastNotNull'], fields: '', values: false },

  // A time series. `thresholdsStyle` is one of Grafana's modes (line, line+area, dashed, ...).
  timeseries(id, title, description, unit, targets, thresholds, thresholdsStyle)::
    base('timeseries', id, title, description) {
      targets: targets,
      fieldConfig: {
        defaults: {
          color: { mode: 'palette-classic' },
          custom: {
            axisSoftMin: 0,
            drawStyle: 'line',
            fillOpacity: 10,
            lineInterpolation: 'linear',
            lineWidth: 1,
            showPoints: 'never',
            spanNulls: false,
            thresholdsStyle: { mode: thresholdsStyle },
          },
          thresholds: thresholds,
          unit: unit,
        },
        overrides: [],
      },
      options: {
        legend: { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: true },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // A single big number per series, coloured by its thresholds.
  stat(id, title, description, unit, targets, thresholds)::
    base('stat', id, title, description) {
      targets: targets,
      fieldConfig: { defaults: { color: { mode: 'thresholds' }, thresholds: thresholds, unit: unit }, overrides: [] },
      options: {
        colorMode: 'value',
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        percentChangeColorMode: 'standard',
        reduceOptions: reduce,
        showPercentChange: false,
        textMode: 'auto',
        wideLayout: true,
      },
    },

  // A dial per series between min and max.
  gauge(id, title, description, unit, targets, thresholds, min, max)::
    base('gauge', id, title, description) {
      targets: targets,
      fieldConfig: {
        defaults: { color: { mode: 'thresholds' }, max: max, min: min, thresholds: thresholds, unit: unit },
        overrides: [],
      },
      options: {
        minVizHeight: 75,
        minVizWidth: 75,
        orientation: 'auto',
        reduceOptions: reduce,
        showThresholdLabels: false,
        showThresholdMarkers: true,
        sizing: 'auto',
      },
    },

  // A table of an instant query's labels, keeping only `columns` (in that order).
  table(id, title, description, targets, columns, noValue)::
    base('table', id, title, description) {
      targets: targets,
      fieldConfig: {
        defaults: { custom: { align: 'auto', inspect: false }, noValue: noValue },
        overrides: [],
      },
      options: { cellHeight: 'sm', footer: { countRows: false, reducer: ['sum'], show: false }, frameIndex: 0, showHeader: true },
      transformations: [
        { id: 'filterFieldsByName', options: { include: { names: columns } } },
        { id: 'organize', options: { indexByName: { [columns[i]]: i for i in std.range(0, std.length(columns) - 1) } } },
      ],
    },

  // Markdown text.
  text(id, title, content)::
    base('text', id, title, '') {
      options: { code: { language: 'plaintext', showLineNumbers: false, showMiniMap: false }, content: content, mode: 'markdown' },
    },

  // A row header (always expanded: the on-call reads the whole page at once).
  row(id, title):: {
    type: 'row',
    id: id,
    title: title,
    collapsed: false,
    gridPos: { h: 1, w: 24, x: 0, y: 0 },
    panels: [],
  },
}
