"""`${NAME}` references in the Alertmanager config, in a form `amtool check-config` accepts.

Alertmanager parses URLs and `host:port` addresses while it loads its config, so a bare
`${OPS_NOC_WEBHOOK_URL}` or `${SMTP_SMARTHOST}` fails `amtool check-config` (no scheme, no port)
although `vigil deploy` would replace it. A field whose whole value is one reference is therefore
written inside a fixed shape on the reserved `.invalid` domain (RFC 2606), which deploy replaces as
a whole (deploy/secrets.py):

    url: ${OPS_NOC_WEBHOOK_URL}         →  url: https://env.invalid/${OPS_NOC_WEBHOOK_URL}
    smtp_smarthost: ${SMTP_SMARTHOST}   →  smtp_smarthost: env.invalid:${SMTP_SMARTHOST}

The catalog keeps the bare form; references inside a longer value (`https://x/${TOKEN}`) already
parse and are left alone. Were such a config loaded unresolved, it would point at a host that
cannot exist rather than at a real one.
"""

from __future__ import annotations

import re
from typing import Any

NAME = r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"
_WHOLE = re.compile(NAME)
URL_SHAPE = "https://env.invalid/"
HOSTPORT_SHAPE = "env.invalid:"
# A value that is one reference in one of the shapes: deploy replaces all of it.
SHAPED = re.compile(rf"^(?:{re.escape(URL_SHAPE)}|{re.escape(HOSTPORT_SHAPE)}){NAME}$")


def shaped(data: Any, key: str = "") -> Any:
    """The rendered config with every whole-value reference in a URL or address field shaped."""
    if isinstance(data, dict):
        return {k: shaped(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [shaped(v, key) for v in data]
    if isinstance(data, str) and _WHOLE.fullmatch(data):
        if key.endswith("url"):
            return URL_SHAPE + data
        if key.endswith("smarthost"):
            return HOSTPORT_SHAPE + data
    return data


_PREFIX = re.compile(rf"(?:{re.escape(URL_SHAPE)}|{re.escape(HOSTPORT_SHAPE)})(?={NAME})")


def bare(text: str) -> str:
    """The config text with every shaped reference back to a bare `${NAME}`: for tools that
    substitute references in place (Flux's post-build substitution of the Kubernetes Secret)."""
    return _PREFIX.sub("", text)
