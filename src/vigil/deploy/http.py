"""HTTP sessions for the deploy targets: timeouts on every call, retries with backoff on
timeouts, connection errors and 5xx, and the target's own authentication.

Retries are urllib3's (`Retry`), mounted on a `requests` session. Every write vigil sends is
idempotent (a whole rule group, a whole dashboard at a known version, a whole config), so POST and
DELETE are retried too. The reload endpoints are the exception: a 500 from `/-/reload` is the server
rejecting the config, and asking again cannot change its mind, so they use `retry_status=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vigil.errors import DeployError

RETRY_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class HttpSettings:
    timeout: float = 30.0        # seconds, per request (connect and read)
    retries: int = 4             # after the first try
    backoff: float = 0.5         # seconds: 0.5, 1, 2, 4 between tries


def session(settings: HttpSettings, *, retry_status: bool = True, headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None) -> requests.Session:
    retry = Retry(total=settings.retries, connect=settings.retries, read=settings.retries,
                  status=settings.retries if retry_status else 0, backoff_factor=settings.backoff,
                  status_forcelist=RETRY_STATUSES if retry_status else (), allowed_methods=None,
                  raise_on_status=False, respect_retry_after_header=True)
    s = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers.update(headers or {})
    if auth:
        s.auth = auth
    return s


class Client:
    """A base URL, a session and the settings: every call has a timeout and turns transport
    failures (after the retries) into a DeployError naming the target."""

    def __init__(self, name: str, url: str, settings: HttpSettings, *, retry_status: bool = True,
                 headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None):
        self.name = name
        self.url = url.rstrip("/")
        self.settings = settings
        self.session = session(settings, retry_status=retry_status, headers=headers, auth=auth)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.url + path, timeout=self.settings.timeout, **kwargs)
        except requests.RequestException as e:
            raise DeployError(f"{self.name}: {method} {self.url}{path} failed after {self.settings.retries} "
                              f"retries: {_reason(e)}") from e

    def expect(self, response: requests.Response, *codes: int) -> requests.Response:
        if response.status_code not in codes:
            hint = " (check the credentials)" if response.status_code in (401, 403) else ""
            raise DeployError(f"{self.name}: {response.request.method} {response.url}: HTTP "
                              f"{response.status_code}{hint}: {response.text.strip()[:500]}")
        return response


def _reason(e: requests.RequestException) -> str:
    # urllib3's MaxRetryError wraps the last cause; show that rather than the whole chain.
    cause = getattr(e.args[0], "reason", None) if e.args else None
    return str(cause or e)
