"""One deploy at a time: an exclusive, non-blocking flock on a lock file.

The kernel drops a flock when its process dies, so a crashed deploy never leaves a stale lock.
The file is named after the targets (their URLs and paths), so two deploys to different stacks do
not wait for each other, and every deploy to the same stack from this machine is serialised.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vigil.errors import DeployError


def lock_path(identities: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(sorted(identities)).encode()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return root / f"vigil-deploy-{digest}.lock"


@contextmanager
def held(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise DeployError(
                f"another deploy to these targets is running ({holder}; lock {path}); wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
