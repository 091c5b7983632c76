"""The files of a run directory: their names, the manifests in it, and its lock.

Read-only: nothing here writes a file (the commit protocol is in :mod:`blockloop.storage.store`).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import xxhash

from .._errors import CheckpointError
from .manifest import Manifest

__all__ = [
    "RunPaths",
    "UnwritableError",
    "is_locked",
    "load_manifest",
    "manifest_paths",
    "read_manifest",
    "recorded_content",
    "refuse_foreign",
    "seal",
]

_FILE = re.compile(r"^ckpt-(\d{6,})(\.r\d{4,})?\.(json|npz)$")


@dataclass(frozen=True)
class RunPaths:
    """Every file name of one run directory."""

    root: Path
    name: str

    @functools.cached_property
    def run_dir(self) -> Path:
        return self.root / self.name

    @property
    def lock(self) -> Path:
        return self.run_dir / "lock"

    def npz(self, generation: int, rank: int = 0) -> Path:
        """The generation's npz; of rank ``rank`` > 0, the rows that rank computed in a run
        over several MPI ranks (``ckpt-00000g.r0001.npz``)."""
        if rank:
            return self.run_dir / f"ckpt-{generation:06d}.r{rank:04d}.npz"
        return self.run_dir / f"ckpt-{generation:06d}.npz"

    def rank_files(self, generation: int) -> list[Path]:
        """The npz files of ranks other than 0 that ``generation`` has."""
        if not self.run_dir.is_dir():
            return []
        prefix = f"ckpt-{generation:06d}.r"
        return sorted(
            self.run_dir / entry
            for entry in os.listdir(self.run_dir)
            if entry.startswith(prefix) and (m := _FILE.match(entry)) and m.group(2)
        )

    def manifest(self, generation: int) -> Path:
        return self.run_dir / f"ckpt-{generation:06d}.json"

    def generations(self) -> list[int]:
        """Generation numbers that have a manifest file, oldest first."""
        return self._numbers("json")

    def all_numbers(self) -> list[int]:
        """Generation numbers of any ckpt file, complete or not."""
        return self._numbers("json", "npz")

    def _numbers(self, *extensions: str) -> list[int]:
        if not self.run_dir.is_dir():
            return []
        names = (_FILE.match(entry) for entry in os.listdir(self.run_dir))
        return sorted({int(m.group(1)) for m in names if m and m.group(3) in extensions})


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def seal(body: dict) -> dict:
    return {**body, "manifest_xxh3": xxhash.xxh3_64_hexdigest(_canonical(body))}


def sealed_bytes(body: dict) -> bytes:
    """``body`` with its checksum, as a manifest file's bytes: the canonical JSON (one
    line, keys sorted; ``blockloop show`` lays it out for people) and ``manifest_xxh3``
    appended, so the body is encoded once."""
    canonical = _canonical(body)
    digest = xxhash.xxh3_64_hexdigest(canonical).encode()
    comma = b"," if len(canonical) > 2 else b""
    return canonical[:-1] + comma + b'"manifest_xxh3":"' + digest + b'"}'


def read_manifest(path: Path) -> dict:
    """Parse and verify a manifest file.

    Raises
    ------
    CheckpointError
        If it is unreadable, not JSON, or its own checksum does not match.
    """
    try:  # a FIFO or a link in its place is not a manifest: never block on it or follow it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path} is not a regular file")
        raw = f.read((1 << 22) + 1)
    if len(raw) > 1 << 22:
        raise CheckpointError(f"{path} is more than {1 << 22} bytes, too large for a manifest")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "manifest_xxh3" not in data:
        raise CheckpointError(f"{path} is not a blockloop manifest")
    body = {k: v for k, v in data.items() if k != "manifest_xxh3"}
    if _sealed_as_written(raw) != data["manifest_xxh3"]:  # else: laid out by another writer
        if xxhash.xxh3_64_hexdigest(_canonical(body)) != data["manifest_xxh3"]:
            raise CheckpointError(f"{path}: manifest checksum mismatch")
    return body


_SEAL = re.compile(rb',?"manifest_xxh3":"([0-9a-f]{16})"}\s*$')


def _sealed_as_written(raw: bytes) -> str | None:
    """The checksum of a manifest laid out by :func:`sealed_bytes` (its canonical body,
    then ``manifest_xxh3`` last), taken over the bytes as they are; None if it is not."""
    match = _SEAL.search(raw, max(0, len(raw) - 64))
    if match is None:
        return None
    return xxhash.xxh3_64_hexdigest(raw[: match.start()] + b"}")


def manifest_paths(run_dir: Path) -> list[Path]:
    """The manifest files of a run directory and of its phase directories, newest first."""
    dirs = [run_dir, *sorted(run_dir.glob("phase-*"))] if run_dir.is_dir() else []
    found = []
    for path in dirs:
        paths = RunPaths(path.parent, path.name)
        found += [paths.manifest(g) for g in reversed(paths.generations())]
    return found


def load_manifest(path: Path) -> Manifest:
    """Read, verify and parse a manifest file; :class:`CheckpointError` if it is bad."""
    return Manifest.from_json(read_manifest(path), path.name)


def is_locked(paths: RunPaths) -> bool:
    """True while a process holds the run (its lock cannot be taken)."""
    try:  # a FIFO or a link named ``lock`` is no lock: never block on it or follow it
        fd = os.open(paths.lock, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def recorded_content(run_dir: Path) -> str | None:
    """The content hash recorded by the run in ``run_dir`` (``""`` if it sampled nothing),
    or None when it holds no readable checkpoint."""
    for path in manifest_paths(run_dir):
        try:
            identity = read_manifest(path)["identity"]
        except (CheckpointError, KeyError):
            continue
        if isinstance(identity, dict):
            return str(identity.get("content", ""))
    return None


def refuse_foreign(run_dir: Path) -> None:
    """Refuse a run directory that is a link or that another user owns: in a shared
    checkpoint root, blockloop writes only in directories of the user who runs it."""
    info = os.lstat(run_dir)
    if stat.S_ISLNK(info.st_mode):
        raise CheckpointError(
            f"run directory {run_dir} is a symbolic link; blockloop does not write through "
            "links. Remove it, or choose another checkpoint_dir"
        )
    if info.st_uid != os.getuid():
        raise CheckpointError(
            f"run directory {run_dir} belongs to another user (uid {info.st_uid}); blockloop "
            "writes only in run directories you own. Choose your own checkpoint_dir"
        )


class UnwritableError(CheckpointError):
    """A checkpoint directory or its lock file cannot be created (a read-only or vanished
    checkpoint root): the run can go on without this checkpoint."""
