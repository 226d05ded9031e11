"""`${NAME}` references in the Alertmanager config, resolved from the environment at deploy time.

Secrets never live in the catalog or output/; they exist only in the deploying process's
environment and in the file deploy writes for Alertmanager (mode 0600), or in Mimir's store.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import yaml

from vigil.amrefs import SHAPED
from vigil.errors import DeployError

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def references(text: str) -> list[str]:
    return sorted(set(REFERENCE.findall(_without_comments(text))))


def resolve(text: str, env: Mapping[str, str], what: str) -> str:
    """The text with every ${NAME} replaced; DeployError listing every missing name."""
    missing = [name for name in references(text) if name not in env]
    if missing:
        raise DeployError(f"{what} references environment variables that are not set: {', '.join(missing)} "
                          "(set them for the deploy; secrets are never stored in the catalog or output/)")
    # Substituted in the parsed document, not in the text: a secret with a quote, a colon or a
    # newline in it stays one string value and cannot change the config's structure.
    header = "".join(line for line in text.splitlines(keepends=True)[:3] if line.startswith("#"))
    doc = _substitute(yaml.load(text, Loader=_Loader), env)
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 20)


def _substitute(data: Any, env: Mapping[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: _substitute(v, env) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, env) for v in data]
    if isinstance(data, str):
        whole = SHAPED.fullmatch(data)   # a reference shaped for amtool (amrefs.py) is the whole value
        return env[whole[1]] if whole else REFERENCE.sub(lambda m: env[m[1]], data)
    return data


def _without_comments(text: str) -> str:
    # The generated header explains ${NAME} in a comment; a comment is not a reference.
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))


def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600, so the secret is never world-readable, not even briefly."""
    write_atomic(path, text, mode=0o600)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file in the same directory and a rename (with fsync), so a reader
    never sees half a file; the mode is set before any byte is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise