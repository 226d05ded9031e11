"""Prometheus's HTTP query API: instant and range queries, as the dashboards' panels make them.

Only the stack/ and deploy/ packages touch the network; `vigil preview` reads through this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from vigil.errors import VigilError


class QueryError(VigilError):
    """Prometheus answered, but refused the query (a bad expression, a timeout on its side)."""


@dataclass
class Series:
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)  # unix seconds
    values: list[float] = field(default_factory=list)  # sample values come as text: "NaN", "+Inf" parse too


class PrometheusAPI:
    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            response = self.session.get(self.url + path, params=params, timeout=self.timeout)
        except requests.RequestException as e:
            raise VigilError(f"Prometheus at {self.url} cannot be reached: {e}") from e
        try:
            body = response.json()
        except ValueError:
            raise VigilError(f"Prometheus at {self.url}{path}: HTTP {response.status_code}, not JSON") from None
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', response.text[:200])}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})
        return [
            Series(r["metric"], [float(t) for t, _ in r["values"]], [float(v) for _, v in r["values"]])
            for r in data["result"]
        ]

    def query(self, expr: str, time: float) -> list[Series]:
        """An instant query; each series has one sample (scalars and strings come back as one too)."""
        data = self._get("/api/v1/query", {"query": expr, "time": time})
        if data["resultType"] in ("scalar", "string"):
            t, v = data["result"]
            return [Series({}, [float(t)], [float(v)])]
        return [Series(r["metric"], [float(r["value"][0])], [float(r["value"][1])]) for r in data["result"]]

    def samples(self, selector: str, start: float, end: float) -> list[Series]:
        """The raw samples of a selector between start and end, at their own timestamps (an instant
        query of `selector[range]`): when an evaluation wrote ALERTS, not a step's approximation."""
        span = max(end - start, 0.001)
        data = self._get("/api/v1/query", {"query": f"{selector}[{round(span * 1000)}ms]", "time": end})
        return [
            Series(r["metric"], [float(t) for t, _ in r["values"]], [float(v) for _, v in r["values"]])
            for r in data["result"]
        ]

    def parse_query(self, expr: str) -> Any | None:
        """Prometheus's own syntax tree of `expr` (`/api/v1/parse_query`), or None where the server
        has no such endpoint (Prometheus 2.42 answers 404; 3.5 has it) or will not parse it.
        An unreachable server is left for the caller's next query to report."""
        try:
            return self._get("/api/v1/parse_query", {"query": expr})
        except VigilError:
            return None

    def ready(self) -> bool:
        try:
            return self.session.get(self.url + "/-/ready", timeout=self.timeout).status_code == 200
        except requests.RequestException:
            return False
