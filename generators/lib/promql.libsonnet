// Small PromQL helpers. Numbers arrive pre-formatted from the model (`promql` fields), so nothing
// here formats floats; everything is string concatenation (fast in every Jsonnet engine).
{
  // A recording rule read for one service: name{service="..."}.
  series(record, service):: record + '{service="' + service + '"}',

  // Go template for $value in an annotation, e.g. {{ $value | humanizePercentage }}.
  value(humanize):: '{{ $value | ' + humanize + ' }}',

  // " on {{ $labels.instance }}" for the labels a per-instance metric keeps.
  onLabels(by):: if std.length(by) == 0 then '' else ' on ' + std.join(', ', ['{{ $labels.' + l + ' }}' for l in by]),
}
