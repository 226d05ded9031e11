"""An exporter's `/metrics`, read from a live endpoint or a saved file, as plain samples.

Parsed with prometheus_client's text parser. One fix-up: for a counter written without `_total`
(postgres_exporter's `pg_stat_database_deadlocks`), the parser names the sample `..._total`;
here a sample keeps the name the exporter really wrote, since that is what Prometheus stores and
what PromQL must read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from vigil.errors import DiscoverError

# Sample kinds whose values only grow (rate() reads them): counters and the parts of histograms
# and summaries that count. A summary's quantiles and a gauge histogram's buckets are gauges.
_COUNTING = {"counter": ("_total", ""), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
_NAME = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]   # sorted
    value: float
    counter: bool                         # grows over time: rate() applies


@dataclass
class Exposition:
    source: str           # the URL or file it came from
    samples: list[Sample]

    @property
    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def labels_of(self, name: str) -> set[str]:
        """Every label name on the samples of one metric."""
        return {k for s in self.samples if s.name == name for k, _ in s.labels}


def fetch(source: str, timeout: float = 10.0) -> str:
    """The exposition text of a URL (http/https) or a file."""
    if re.match(r"^https?://", source):
        try:
            response = requests.get(source, timeout=timeout, headers={"Accept": "text/plain;version=0.0.4"})
            response.raise_for_status()
        except requests.RequestException as e:
            raise DiscoverError(f"{source}: cannot read metrics: {e}") from e
        return response.text
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DiscoverError(f"{source}: cannot read: {e}") from e


def parse(text: str, source: str) -> Exposition:
    """Samples of an exposition in the Prometheus text format; a parse error names the source."""
    written = {m.group(1) for line in text.splitlines() if not line.startswith("#") and (m := _NAME.match(line))}
    samples: list[Sample] = []
    try:
        for family in text_string_to_metric_families(text):
            suffixes = _COUNTING.get(family.type, ())
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue  # OpenMetrics creation timestamps, not a series anyone alerts on
                name = s.name
                if name not in written and name.endswith("_total") and name[:-6] in written:
                    name = name[:-6]
                counting = any(name == family.name + suf or s.name == family.name + suf for suf in suffixes)
                if family.type == "unknown":  # no TYPE line: go by the naming conventions
                    counting = name.endswith(("_total", "_count", "_sum", "_bucket"))
                samples.append(Sample(name, tuple(sorted(s.labels.items())), float(s.value), counting))
    except (ValueError, TypeError, IndexError) as e:
        raise DiscoverError(f"{source}: not a Prometheus text exposition: {e}") from e
    if not samples:
        raise DiscoverError(f"{source}: no samples in the exposition")
    return Exposition(source, samples)


def read(source: str, timeout: float = 10.0) -> Exposition:
    return parse(fetch(source, timeout), source)
