"""The Prometheus range queries of a backtest: POSTed (a batch of expanded alerts is long), retried
on 502/503/504, connection errors and read timeouts, and counted (the bench reports the count)."""

from __future__ import annotations

import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vigil.errors import VigilError
from vigil.prometheus_api import PrometheusAPI, QueryError, Series

# Prometheus refuses a range query with more points than this per series (its own constant).
MAX_POINTS = 11000


class BacktestAPI(PrometheusAPI):
    def __init__(self, url: str, timeout: float = 120.0, retries: int = 4):
        super().__init__(url, timeout)
        # Prometheus answers 503 while it is overloaded or starting; a read timeout on a heavy query
        # is worth one more try after a pause. POST is safe to retry here: a query changes nothing.
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.5,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.queries = 0
        self._count = threading.Lock()  # queries may run in several threads (evaluate's workers)

    def query_range_post(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        with self._count:
            self.queries += 1
        form: dict[str, Any] = {"query": expr, "start": start, "end": end, "step": step}
        try:
            response = self.session.post(self.url + "/api/v1/query_range", data=form, timeout=self.timeout)
        except requests.RequestException as e:
            raise VigilError(f"Prometheus at {self.url} cannot be reached: {e}") from e
        try:
            body = response.json()
        except ValueError:
            raise VigilError(
                f"Prometheus at {self.url}/api/v1/query_range: HTTP {response.status_code}, not JSON"
            ) from None
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', response.text[:200])}")
        return [
            Series(r["metric"], [float(t) for t, _ in r["values"]], [float(v) for _, v in r["values"]])
            for r in body["data"]["result"]
        ]
