"""HTTP sessions for the deploy targets: timeouts on every call, retries with backoff on
timeouts, connection errors and 5xx, and the target's own authentication.

Retries are urllib3's (`Retry`), mounted on a `requests` session. Every write vigil sends is
idempotent (a whole rule group, a whole dashboard at a known version, a whole config), so POST and
DELETE are retried too. The reload endpoints are the exception: a 500 from `/-/reload` is the server
rejecting the config, and asking again cannot change its mind, so they use `retry_status=False`.

One session per target is shared by the deploy's worker threads (pool.py): its connection pool
holds one kept-alive connection per worker (`pool_block`: a thread waits for a free connection
rather than opening a throwaway one), so no request pays for a new TCP connection.
JSON bodies go through orjson: a 3 MB overview dashboard costs json.dumps/json.loads tens of ms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vigil.errors import DeployError

RETRY_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class HttpSettings:
    timeout: float = 30.0  # seconds, per request (connect and read)
    retries: int = 4  # after the first try
    backoff: float = 0.5  # seconds: 0.5, 1, 2, 4 between tries
    workers: int = 8  # requests in flight to one target at most (pool.py), and its connections


def session(
    settings: HttpSettings,
    *,
    retry_status: bool = True,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    url: str | None = None,
) -> requests.Session:
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries if retry_status else 0,
        backoff_factor=settings.backoff,
        status_forcelist=RETRY_STATUSES if retry_status else (),
        allowed_methods=None,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    s = requests.Session()
    size = max(1, settings.workers)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=size, pool_block=True)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers.update(headers or {})
    if auth:
        s.auth = auth
    if url:
        _environment_once(s, url)
    return s


def _environment_once(s: requests.Session, url: str) -> None:
    """What requests reads from the environment (proxies, CA bundle, ~/.netrc), read once for the
    session's one server instead of on every request: a quarter of a millisecond each, for values
    that do not change during a deploy, is seconds over a deploy's thousands of requests."""
    env = s.merge_environment_settings(url, {}, None, None, None)
    s.proxies.update(env["proxies"])
    s.verify = env["verify"]
    if not s.auth:  # as requests does per request: ~/.netrc only without explicit auth
        s.auth = requests.utils.get_netrc_auth(url)
    s.trust_env = False


class Client:
    """A base URL, a session and the settings: every call has a timeout and turns transport
    failures (after the retries) into a DeployError naming the target."""

    def __init__(
        self,
        name: str,
        url: str,
        settings: HttpSettings,
        *,
        retry_status: bool = True,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ):
        self.name = name
        self.url = url.rstrip("/")
        self.settings = settings
        self.session = session(settings, retry_status=retry_status, headers=headers, auth=auth, url=self.url)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.url + path, timeout=self.settings.timeout, **kwargs)
        except requests.RequestException as e:
            raise DeployError(
                f"{self.name}: {method} {self.url}{path} failed after {self.settings.retries} retries: {_reason(e)}"
            ) from e

    def send_json(self, method: str, path: str, body: Any) -> requests.Response:
        return self.request(method, path, data=dumps(body), headers={"Content-Type": "application/json"})

    def expect(self, response: requests.Response, *codes: int) -> requests.Response:
        if response.status_code not in codes:
            hint = " (check the credentials)" if response.status_code in (401, 403) else ""
            raise DeployError(
                f"{self.name}: {response.request.method} {response.url}: HTTP "
                f"{response.status_code}{hint}: {response.text.strip()[:500]}"
            )
        return response


def dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):  # what orjson refuses (ints over 64 bits ...), json takes
        return json.dumps(body).encode()


def loads(response: requests.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return json.loads(response.content)  # the same value, or the same error, as json would give


def _reason(e: requests.RequestException) -> str:
    # urllib3's MaxRetryError wraps the last cause; show that rather than the whole chain.
    cause = getattr(e.args[0], "reason", None) if e.args else None
    return str(cause or e)
