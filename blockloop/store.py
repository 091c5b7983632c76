"""The checkpoint store: every file of a run, and all of blockloop's checkpoint I/O.

A run directory holds numbered generations. Generation ``g`` is two files::

    ckpt-00000g.npz    the state arrays (uncompressed npz: numpy.load(f, allow_pickle=False))
    ckpt-00000g.json   the manifest: identity, progress, per-array xxh3 checksums, and a
                       checksum of the manifest itself

The manifest is the commit record: it is written only after the npz is durable, so a
generation exists only when both files are complete. A commit is temp file -> flush ->
fsync -> ``os.replace`` -> fsync of the directory, for each file. Loading takes the newest
generation whose checksums verify; a bad one is reported with a warning and skipped, never
deleted.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import signal
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xxhash

from . import config
from ._errors import CheckpointError, CheckpointWarning
from .fingerprint import array_hash

__all__ = [
    "FORMAT",
    "Checkpoint",
    "RunPaths",
    "Store",
    "is_locked",
    "progress_of",
    "read_manifest",
    "verify_generation",
]

FORMAT = 1
_GEN = re.compile(r"^ckpt-(\d{6,})\.json$")
_MAX_HEADER = 16384


@dataclass(frozen=True)
class RunPaths:
    """Every file name of one run directory."""

    root: Path
    name: str

    @property
    def run_dir(self) -> Path:
        return self.root / self.name

    @property
    def lock(self) -> Path:
        return self.run_dir / "lock"

    def npz(self, generation: int) -> Path:
        return self.run_dir / f"ckpt-{generation:06d}.npz"

    def manifest(self, generation: int) -> Path:
        return self.run_dir / f"ckpt-{generation:06d}.json"

    def generations(self) -> list[int]:
        """Generation numbers that have a manifest file, oldest first."""
        if not self.run_dir.is_dir():
            return []
        found = []
        for entry in os.listdir(self.run_dir):
            match = _GEN.match(entry)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def all_numbers(self) -> list[int]:
        """Generation numbers of any ckpt file, complete or not."""
        if not self.run_dir.is_dir():
            return []
        return sorted(
            {
                int(m.group(1))
                for e in os.listdir(self.run_dir)
                if (m := re.match(r"^ckpt-(\d+)\.", e))
            }
        )


@dataclass
class Checkpoint:
    """One verified generation: its manifest and its arrays."""

    generation: int
    manifest: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _seal(body: dict) -> dict:
    return {**body, "manifest_xxh3": xxhash.xxh3_64_hexdigest(_canonical(body))}


def read_manifest(path: Path) -> dict:
    """Parse and verify a manifest file.

    Raises
    ------
    CheckpointError
        If it is unreadable, not JSON, or its own checksum does not match.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > 1 << 22:
        raise CheckpointError(f"{path} is {len(raw)} bytes, too large for a manifest")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "manifest_xxh3" not in data:
        raise CheckpointError(f"{path} is not a blockloop manifest")
    body = {k: v for k, v in data.items() if k != "manifest_xxh3"}
    if xxhash.xxh3_64_hexdigest(_canonical(body)) != data["manifest_xxh3"]:
        raise CheckpointError(f"{path}: manifest checksum mismatch")
    return body


def read_arrays(path: Path, spec: dict) -> dict[str, np.ndarray]:
    """Read the arrays listed in ``spec`` from an npz, checking every claim before allocating.

    ``spec`` maps names to ``{"dtype", "shape", "xxh3"}``; a header that disagrees with it,
    a truncated member or a checksum mismatch raises :class:`CheckpointError`.
    """
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name, meta in spec.items():
                dtype = np.dtype(meta["dtype"])
                shape = tuple(int(s) for s in meta["shape"])
                if dtype.hasobject:
                    raise CheckpointError(f"{path}: array {name!r} has an object dtype")
                nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                try:
                    info = zf.getinfo(name + ".npy")
                except KeyError:
                    raise CheckpointError(f"{path}: array {name!r} is missing") from None
                if info.compress_type != zipfile.ZIP_STORED or info.file_size < nbytes:
                    raise CheckpointError(f"{path}: array {name!r} has the wrong size")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    reader = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    hshape, fortran, hdtype = reader(f, max_header_size=_MAX_HEADER)
                    if hshape != shape or hdtype != dtype or fortran:
                        raise CheckpointError(
                            f"{path}: array {name!r} header says {hdtype}{hshape}, "
                            f"the manifest {dtype}{shape}"
                        )
                    array = np.empty(shape, dtype)
                    view = memoryview(array.reshape(-1)).cast("B")
                    got = 0
                    while got < nbytes:
                        n = f.readinto(view[got:])
                        if not n:
                            raise CheckpointError(f"{path}: array {name!r} is truncated")
                        got += n
                if array_hash(array) != meta["xxh3"]:
                    raise CheckpointError(f"{path}: array {name!r} checksum mismatch")
                out[name] = array
    except CheckpointError:
        raise
    except Exception as exc:  # any failure to parse an untrusted file means it is damaged
        raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    return out


# each block is hashed, CRC'd by zipfile and copied to the file while it is in the CPU's
# cache: one pass over memory instead of three (it matters when the loop beside the writer
# is memory-bound); writeback is started every few blocks
_WRITE_BLOCK = 1 << 20
_WRITEBACK_EVERY = 16 << 20


class _EarlyWriteback:
    """Asks the kernel to start writing back what ``f`` has received so far.

    ``posix_fadvise(DONTNEED)`` on a written range starts its writeback without waiting
    (and lets the pages leave the cache once clean), so the disk works while the next blocks
    are copied in and the final fsync has little left to wait for. Durability still comes
    from that fsync alone. A no-op where the call or a file descriptor is missing.
    """

    def __init__(self, f) -> None:
        self.f, self.start, self.pending = f, 0, 0
        try:
            self.fd = f.fileno() if hasattr(os, "posix_fadvise") else None
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.fd = None

    def wrote(self, nbytes: int) -> None:
        """Note ``nbytes`` more written; start writeback once enough is pending."""
        self.pending += nbytes
        if self.fd is None or self.pending < _WRITEBACK_EVERY:
            return
        self.pending = 0
        self.f.flush()
        end = self.f.tell()
        try:
            os.posix_fadvise(self.fd, self.start, end - self.start, os.POSIX_FADV_DONTNEED)
        except OSError:  # advice only: the fsync still makes the file durable
            self.fd = None
        self.start = end


def write_npz(f, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Write ``arrays`` as an uncompressed npz, streaming each array's memory (no copies).

    The same file ``numpy.savez`` would write, up to the zip's bookkeeping: one
    ``NAME.npy`` member per array, format 1.0 or 2.0 headers, no pickled objects.
    Writeback to the disk starts as the file is written.

    Returns
    -------
    dict
        Each array's :func:`~blockloop.fingerprint.array_hash` (xxh3-64 of its bytes in
        C order), computed in the same pass as the write.
    """
    writeback = _EarlyWriteback(f)
    digests = {}
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            if array.dtype.hasobject:
                raise ValueError(f"array {name!r} has an object dtype")
            a = array if array.flags.c_contiguous else np.ascontiguousarray(array)
            header = np.lib.format.header_data_from_array_1_0(a)
            digest = xxhash.xxh3_64()
            with zf.open(name + ".npy", "w", force_zip64=True) as out:
                try:
                    np.lib.format.write_array_header_1_0(out, header)
                except ValueError:  # header longer than format 1.0 allows
                    np.lib.format.write_array_header_2_0(out, header)
                data = memoryview(a.reshape(-1)).cast("B")
                for start in range(0, len(data), _WRITE_BLOCK):
                    block = data[start : start + _WRITE_BLOCK]
                    digest.update(block)
                    out.write(block)
                    writeback.wrote(len(block))
            digests[name] = digest.hexdigest()
    return digests


def verify_generation(paths: RunPaths, generation: int, manifest: dict | None = None) -> Checkpoint:
    """Read one generation and verify every checksum; raise :class:`CheckpointError` if bad."""
    if manifest is None:
        manifest = read_manifest(paths.manifest(generation))
    if not isinstance(manifest.get("arrays", {}), dict):
        raise CheckpointError(f"{paths.manifest(generation)}: malformed list of arrays")
    npz = paths.npz(generation)
    try:
        size = npz.stat().st_size
    except OSError:
        raise CheckpointError(f"{npz.name} is missing") from None
    if size != manifest.get("npz_size"):
        raise CheckpointError(
            f"{npz.name} is {size} bytes, the manifest says {manifest.get('npz_size')} (truncated?)"
        )
    arrays = read_arrays(npz, manifest.get("arrays", {}))
    return Checkpoint(generation, manifest, arrays)


def progress_of(manifest: dict) -> tuple[int, int, str]:
    """``(done, total, unit)`` of a manifest: tiles of a reduction or steps of a loop."""
    for unit in ("tile", "step"):
        if f"next_{unit}" in manifest:
            return int(manifest[f"next_{unit}"]), int(manifest.get(f"{unit}s_total", 0)), unit
    return 0, 0, "unit"


def is_locked(paths: RunPaths) -> bool:
    """True while a process holds the run (its lock cannot be taken)."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_fault_counts: dict[str, int] = {}


def _fault(step: str) -> None:
    """Test-only fault injection at a commit step, from ``BLOCKLOOP_FAULT``.

    ``STEP`` ends the process with ``os._exit(77)`` the first time the step is reached,
    ``STEP@N`` the N-th time; ``stop:STEP[@N]`` stops it with SIGSTOP instead, so a test can
    wait for the stop (``waitpid(WUNTRACED)``) and kill it with a real SIGKILL right there;
    ``enospc:STEP`` raises ``OSError(ENOSPC)`` at every occurrence (a full disk where no
    small filesystem can be mounted); ``notify:STEP[@N]`` writes ``PID STEP`` to the file
    (a FIFO a test blocks on) named by ``BLOCKLOOP_FAULT_NOTIFY`` and carries on.
    Steps: npz-written, npz-synced, npz-renamed, json-written, json-synced, json-renamed,
    dir-synced, retire.
    """
    point = config.fault_point()
    if point is None:
        return
    action, _, target = point.rpartition(":")
    name, _, nth = target.partition("@")
    if name != step:
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _fault_counts[step] = count = _fault_counts.get(step, 0) + 1
    if count != (int(nth) if nth else 1):
        return
    if action == "notify":
        with open(config.fault_notify(), "w") as fifo:
            fifo.write(f"{os.getpid()} {step}\n")
    elif action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    else:
        os._exit(77)


def _durable_write(path: Path, write, step: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            _fault(f"{step}-written")
            os.fsync(f.fileno())
        _fault(f"{step}-synced")
        os.replace(tmp, path)
        _fault(f"{step}-renamed")
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


class Store:
    """The checkpoints of one run: lock, load, commit, retention.

    Parameters
    ----------
    paths : RunPaths
        The run's files.
    identity : dict
        What must match for a checkpoint to belong to this run (JSON-able).
    keep : int
        Generations kept after each commit (the newest ``keep``; at least 1).
    """

    def __init__(self, paths: RunPaths, identity: dict, keep: int = 2) -> None:
        self.paths = paths
        self.identity = identity
        self.keep = max(1, int(keep))
        self._lock_fd: int | None = None
        self._bad: set[int] = set()
        self.next_generation = 1

    # -- lock -------------------------------------------------------------------------
    def __enter__(self) -> Store:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the run directory and take its exclusive lock.

        Raises
        ------
        CheckpointError
            If another process (or another call in this one) holds the run.
        """
        run_dir = self.paths.run_dir
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create the run directory {run_dir}: {exc.strerror}; choose a writable "
                "checkpoint_dir (or BLOCKLOOP_DIR)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CheckpointError(
                    f"run directory {run_dir} is in use by another process ({holder}); "
                    "wait for it to finish or stop it before running the same kernel on the "
                    "same arguments again"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        """Release the lock (the run directory stays)."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- load -------------------------------------------------------------------------
    def load(self) -> Checkpoint | None:
        """The newest generation that verifies and belongs to this run, or None.

        Every skipped generation is reported with a :class:`CheckpointWarning` naming the
        file and the reason; nothing is deleted.
        """
        numbers = self.paths.all_numbers()
        self.next_generation = (numbers[-1] + 1) if numbers else 1
        candidates = self.paths.generations()
        for generation in reversed(candidates):
            try:
                return self._verify(generation)
            except CheckpointError as exc:
                self._bad.add(generation)
                warnings.warn(
                    f"skipping checkpoint {self.paths.manifest(generation)}: {exc}; trying an "
                    "older generation",
                    CheckpointWarning,
                    stacklevel=3,
                )
        if candidates:
            warnings.warn(
                f"no usable checkpoint in {self.paths.run_dir}; starting the run from the "
                "beginning (the damaged files are kept)",
                CheckpointWarning,
                stacklevel=3,
            )
        return None

    def _verify(self, generation: int) -> Checkpoint:
        try:
            return self._verify_unchecked(generation)
        except CheckpointError:
            raise
        except Exception as exc:  # a well-sealed manifest with fields of the wrong kind
            raise CheckpointError(f"malformed manifest ({type(exc).__name__}: {exc})") from None

    def _verify_unchecked(self, generation: int) -> Checkpoint:
        manifest = read_manifest(self.paths.manifest(generation))
        if manifest.get("format") != FORMAT:
            raise CheckpointError(f"format {manifest.get('format')!r}, expected {FORMAT}")
        theirs = manifest.get("identity", {})
        for key, value in self.identity.items():
            if key.startswith("version_"):
                continue
            if theirs.get(key) != value:
                raise CheckpointError(f"it belongs to another run ({key} differs)")
        changed = [
            f"{k[8:]} {theirs.get(k)} -> {v}"
            for k, v in self.identity.items()
            if k.startswith("version_") and theirs.get(k) != v
        ]
        if changed:
            warnings.warn(
                f"checkpoint {self.paths.manifest(generation)} was written with other versions "
                f"({', '.join(changed)}); continuing from it",
                CheckpointWarning,
                stacklevel=4,
            )
        return verify_generation(self.paths, generation, manifest)

    # -- commit -----------------------------------------------------------------------
    def save(self, arrays: dict[str, np.ndarray], state: dict) -> tuple[int, float]:
        """Commit one generation durably, then delete the generations beyond ``keep``.

        Returns
        -------
        tuple of (int, float)
            The generation's number and the seconds until it was durable (the directory
            synced); deleting old generations afterwards is cleanup, not counted.

        Raises
        ------
        CheckpointError
            If the files cannot be written (disk full, permissions); the previous
            generations are untouched.
        """
        start = time.perf_counter()
        generation = self.next_generation
        npz_path = self.paths.npz(generation)
        digests: dict[str, str] = {}
        try:
            _durable_write(npz_path, lambda f: digests.update(write_npz(f, arrays)), "npz")
            spec = {
                name: {"dtype": a.dtype.str, "shape": list(a.shape), "xxh3": digests[name]}
                for name, a in arrays.items()
            }
            body = {
                "format": FORMAT,
                "generation": generation,
                "identity": self.identity,
                "arrays": spec,
                "npz_size": npz_path.stat().st_size,
                "written": time.time(),
                **state,
            }
            blob = json.dumps(_seal(body), indent=1, sort_keys=True).encode()
            _durable_write(self.paths.manifest(generation), lambda f: f.write(blob), "json")
            _fsync_dir(self.paths.run_dir)
            _fault("dir-synced")
        except OSError as exc:
            try:
                npz_path.unlink()
            except OSError:
                pass
            raise CheckpointError(
                f"cannot write checkpoint {generation} in {self.paths.run_dir}: "
                f"{exc.strerror or exc}; the previous checkpoint is intact"
            ) from None
        durable = time.perf_counter() - start
        self.next_generation = generation + 1
        self._retire(generation)
        return generation, durable

    def _retire(self, newest: int) -> None:
        """Delete generations older than the newest ``keep`` (never ones found damaged)."""
        keep_from = newest - self.keep + 1
        for number in self.paths.all_numbers():
            if number >= keep_from or number in self._bad:
                continue
            for path in (self.paths.manifest(number), self.paths.npz(number)):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                _fault("retire")
