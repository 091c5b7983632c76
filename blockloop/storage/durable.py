"""Durable file writes: temp file, flush, fsync, rename; and a directory's fsync.

Each step calls :func:`~blockloop.storage.faults.fault` so that tests can stop the process there.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .faults import fault

__all__ = ["durable_write", "fsync_dir", "read_small"]


def fsync_dir(path: Path) -> None:
    """fsync a directory: its entries (new names, renames) are durable afterwards."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(
    path: Path, write: Callable[[BinaryIO], Any], step: str, sync: bool = True
) -> None:
    """Write ``path`` by ``write(f)`` on a temp file, fsync it and rename it into place;
    ``step`` names the fault points (``npz-written``, ``npz-synced``, ``npz-renamed``).
    With ``sync=False`` the fsync is left out: the rename is still atomic, but the file
    may be lost (or found damaged, which its checksum tells) after a crash of the machine."""
    # an unpredictable name, made here and nowhere else: a file or link planted in the
    # run directory under any name is never opened for writing
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            fault(f"{step}-written")
            if sync:
                os.fsync(f.fileno())
        fault(f"{step}-synced")
        os.replace(tmp, path)
        fault(f"{step}-renamed")
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def read_small(path: Path, limit: int = 4096) -> str | None:
    """The text of a small regular file, or None (missing, a link, a FIFO, too large)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = f.read(limit + 1)
    return data.decode(errors="replace").strip() if len(data) <= limit else None
