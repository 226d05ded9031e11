// Constructors for Prometheus rule objects, so every alert carries the DESIGN.md contract.
{
  record(name, expr, labels):: { record: name, expr: expr, labels: labels },

  // An alert with the contract labels (service, team, tier, customer_facing from the service;
  // severity, key_metric, kind given here) and annotations.
  alert(service, name, expr, forDuration, severity, keyMetric, kind, summary, description, runbookUrl, dashboardUrl, keepFiringFor='0s')::
    {
      alert: name,
      expr: expr,
      labels: service.labels { severity: severity, key_metric: keyMetric, kind: kind },
      annotations: {
        summary: summary,
        description: description,
        runbook_url: runbookUrl,
        dashboard_url: dashboardUrl,
      },
    } + (if forDuration == '0s' then {} else { 'for': forDuration })
    + (if keepFiringFor == '0s' then {} else { keep_firing_for: keepFiringFor }),

  // The postmortem that motivated a metric's or SLO's override (`because:` in the catalog), as an
  // annotation, so the person paged sees why the threshold is where it is. Absent otherwise.
  because(x):: if std.objectHas(x, 'because') then { annotations+: { postmortem: x.because } } else {},
}
