"""Atomic file writes, shared by checkpoints, caches, tables and figures: nothing is half-written."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable, mode: str = "wb") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())          # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        remove_stale_temporaries(path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


STALE_AFTER_S = 3600


def remove_stale_temporaries(path: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete ``.<name>.*.tmp`` files beside ``path`` left by a write that was killed (older than an hour,
    so that a concurrent writer's file is never touched); return what was removed."""
    path = Path(path)
    gone = []
    for p in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if time.time() - p.stat().st_mtime > older_than_s:
                p.unlink()
                gone.append(p)
        except FileNotFoundError:
            pass
    return gone


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), mode="w")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
