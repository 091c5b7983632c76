"""The checkpoint store: every file of a run, and all of blockloop's checkpoint I/O.

A run directory holds numbered generations. Generation ``g`` is two files::

    ckpt-00000g.npz    the state arrays (uncompressed npz: numpy.load(f, allow_pickle=False))
    ckpt-00000g.json   the manifest: identity, progress, per-array xxh3 checksums, and a
                       checksum of the manifest itself

In a run over several MPI ranks, each rank other than 0 also writes
``ckpt-00000g.r0001.npz`` (rank 1, ...): the map rows it computed, to which the manifest's
pieces refer by rank (:meth:`Store.save_part`).

The manifest is the commit record: it is written only after the npz is durable, so a
generation exists only when both files are complete. A commit is temp file -> flush ->
fsync -> ``os.replace`` -> fsync of the directory, for each file. Loading takes the newest
generation whose checksums verify; a bad one is reported with a warning and skipped, never
deleted.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .._errors import CheckpointError, CheckpointWarning, warn
from . import background
from .durable import durable_write, fsync_dir
from .faults import fault
from .manifest import FORMAT, ArraySpec, Identity, Manifest, RunState
from .npz import Checkpoint, dtype_text, verify_generation, write_npz, write_part
from .pieces import referenced_generations
from .rundir import (
    RunPaths,
    UnwritableError,
    is_locked,
    load_manifest,
    manifest_paths,
    read_manifest,
    refuse_foreign,
    sealed_bytes,
)

__all__ = [
    "FORMAT",
    "Checkpoint",
    "Hold",
    "RunPaths",
    "Store",
    "UnwritableError",
    "is_locked",
    "manifest_paths",
    "read_manifest",
    "verify_generation",
    "write_npz",
]


class Hold(enum.Enum):
    """Where a :class:`Store` stands with its run directory and lock."""

    RELEASED = "released"
    """No lock: before :meth:`Store.acquire`, after :meth:`Store.release`."""
    DEFERRED = "deferred"
    """Acquired when the run had no directory: none made, no lock; the first save takes it."""
    NEW = "new"
    """The lock held on a directory this store made: nothing to load."""
    HELD = "held"
    """The lock held on a directory that may hold generations."""


class Store:
    """The checkpoints of one run: lock, load, commit, retention.

    Parameters
    ----------
    paths : RunPaths
        The run's files.
    identity : Identity or None
        What must match for a checkpoint to belong to this run; None for a store that
        only holds the lock.
    keep : int
        Generations kept after each commit (the newest ``keep``; at least 1).
    defer : bool
        Whether :meth:`acquire` may leave a run that has no directory yet uncreated: the
        directory is made and locked at the first :meth:`save` (see :attr:`deferred`).
    """

    def __init__(
        self,
        paths: RunPaths,
        identity: Identity | Mapping[str, Any] | None,
        keep: int = 2,
        *,
        defer: bool = False,
    ) -> None:
        self.paths = paths
        if isinstance(identity, Mapping):
            identity = Identity.from_json(identity) if identity else None
        self.identity = identity
        self.keep = max(1, int(keep))
        self._lock_fd: int | None = None
        self._bad: set[int] = set()
        self.next_generation = 1
        self.last_manifest: Manifest | None = None
        self.defer = defer
        self.hold = Hold.RELEASED

    @property
    def deferred(self) -> bool:
        """The run had no directory at :meth:`acquire`, which made none and took no lock."""
        return self.hold is Hold.DEFERRED

    # -- lock -------------------------------------------------------------------------
    def __enter__(self) -> Store:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the run directory and take its exclusive lock.

        First waits for a completion record of this directory still being written in the
        background (:mod:`blockloop.storage.background`). A store made with ``defer`` leaves a
        run that has no directory as it is: nothing to load, and the lock is taken by the
        first :meth:`save` (or :meth:`take`). A second process can then start the same
        run; the one that saves second gets the error below.

        Raises
        ------
        CheckpointError
            If another process (or another call in this one) holds the run.
        """
        run_dir = self.paths.run_dir
        background.wait(str(run_dir))
        if self.defer and not os.path.exists(run_dir):
            root = self.paths.root
            if not os.path.isdir(root):  # made here: take() makes the run directory only
                self._mkdir(root, parents=True)
            self.hold = Hold.DEFERRED
            return
        self.take()

    def take(self) -> None:
        """Create the run directory and take its lock now (see :meth:`acquire`).

        A deferred store does not make the checkpoint root again: removed since
        :meth:`acquire` (a temporary directory cleaned up), it stays removed.
        """
        run_dir = self.paths.run_dir
        created = self._mkdir(run_dir, parents=not self.deferred)
        refuse_foreign(run_dir)
        try:  # never through a link: a planted ``lock`` link must not be written
            fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CheckpointError(
                    f"{self.paths.lock} is a symbolic link; blockloop does not write through "
                    "links in a run directory. Remove it, or choose another checkpoint_dir"
                ) from None
            raise self._unwritable(run_dir, exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CheckpointError(
                f"{self.paths.lock} is not a regular file; remove it, or choose another "
                "checkpoint_dir"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            who = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CheckpointError(
                    f"run directory {run_dir} is in use by another process ({who}); "
                    "wait for it to finish or stop it before running the same kernel on the "
                    "same arguments again"
                ) from None
            raise
        mine = f"pid {os.getpid()}\n".encode()
        holder = os.pread(fd, 64, 0)
        fresh = created and not holder  # made by this call, its lock never taken before
        if self.deferred and not fresh:  # another process has had the run since acquire
            numbers = self.paths.all_numbers()
            self.next_generation = max(self.next_generation, numbers[-1] + 1 if numbers else 1)
        self.hold = Hold.NEW if fresh else Hold.HELD
        if holder != mine:  # who holds it, for the message above
            # written, then cut to its length: a file truncated to zero and written makes
            # ext4 flush it at close (its replace-by-truncate heuristic), 70 us a fresh run
            os.pwrite(fd, mine, 0)
            os.ftruncate(fd, len(mine))
        self._lock_fd = fd

    def _mkdir(self, path: Path, parents: bool) -> bool:
        """Make ``path``; False if it exists."""
        try:
            path.mkdir(parents=parents)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise self._unwritable(path, exc) from None

    @staticmethod
    def _unwritable(path: Path, exc: OSError) -> CheckpointError:
        return UnwritableError(
            f"cannot create the checkpoint directory {path}: {exc.strerror}; choose a writable "
            "checkpoint_dir (or BLOCKLOOP_DIR)"
        )

    def release(self) -> None:
        """Release the lock (the run directory stays)."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        if self.hold is not Hold.DEFERRED:  # a deferred store's first save still takes it
            self.hold = Hold.RELEASED

    # -- load -------------------------------------------------------------------------
    def load(self) -> Checkpoint | None:
        """The newest generation that verifies and belongs to this run, or None.

        Every skipped generation is reported with a :class:`CheckpointWarning` naming the
        file and the reason; nothing is deleted.
        """
        if self.hold in (Hold.DEFERRED, Hold.NEW):  # nothing to load
            self.next_generation = 1
            return None
        numbers = self.paths.all_numbers()
        self.next_generation = (numbers[-1] + 1) if numbers else 1
        candidates = self.paths.generations()
        for generation in reversed(candidates):
            try:
                return self._verify(generation)
            except CheckpointError as exc:
                self._bad.add(generation)
                warn(
                    f"skipping checkpoint {self.paths.manifest(generation)}: {exc}; trying an "
                    "older generation",
                    CheckpointWarning,
                )
        if candidates:
            warn(
                f"no usable checkpoint in {self.paths.run_dir}; starting the run from the "
                "beginning (the damaged files are kept)",
                CheckpointWarning,
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
        manifest = load_manifest(self.paths.manifest(generation))
        if self.identity is not None:
            key = self.identity.mismatch(manifest.identity)
            if key is not None:
                raise CheckpointError(f"it belongs to another run ({key} differs)")
            changed = self.identity.version_changes(manifest.identity)
            if changed:
                warn(
                    f"checkpoint {self.paths.manifest(generation)} was written with other "
                    f"versions ({', '.join(changed)}); continuing from it",
                    CheckpointWarning,
                )
        return verify_generation(self.paths, generation, manifest)

    # -- commit -----------------------------------------------------------------------
    def save(
        self, arrays: dict[str, np.ndarray], state: RunState, *, durable: bool = True
    ) -> tuple[int, float]:
        """Commit one generation durably, then delete the generations beyond ``keep``.

        ``arrays`` are written into the generation's npz; the state's pieces refer to
        entries of ``arrays`` (their new pieces) and of older generations. The committed
        manifest is :attr:`last_manifest` afterwards. With ``durable=False`` nothing is
        fsynced: the generation may be lost in a crash of the machine (a damaged file is
        then skipped with a warning, as any other).

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
        if self.deferred:
            self.take()
        generation = self.next_generation
        self.hold = Hold.HELD
        npz_path = self.paths.npz(generation)
        digests: dict[str, str] = {}
        size: list[int] = []
        try:

            def npz(f: BinaryIO) -> None:
                digests.update(write_npz(f, arrays, early_writeback=durable))
                size.append(f.tell())

            durable_write(npz_path, npz, "npz", durable)
            if self.identity is None:
                raise ValueError("a store without an identity cannot save")
            manifest = Manifest(
                generation=generation,
                identity=self.identity,
                arrays={
                    name: ArraySpec(dtype_text(a.dtype), tuple(a.shape), digests[name])
                    for name, a in arrays.items()
                },
                npz_size=size[0],
                written=time.time(),
                state=replace(
                    state,
                    pieces={n: p.committed(generation, digests) for n, p in state.pieces.items()},
                ),
            )
            blob = sealed_bytes(manifest.to_json())
            durable_write(self.paths.manifest(generation), lambda f: f.write(blob), "json", durable)
            if durable:
                fsync_dir(self.paths.run_dir)
            fault("dir-synced")
        except OSError as exc:
            try:
                npz_path.unlink()
            except OSError:
                pass
            raise CheckpointError(
                f"cannot write checkpoint {generation} in {self.paths.run_dir}: "
                f"{exc.strerror or exc}; the previous checkpoint is intact"
            ) from None
        seconds = time.perf_counter() - start
        self.next_generation = generation + 1
        self.last_manifest = manifest
        self._retire(generation)
        return generation, seconds

    def save_part(self, generation: int, rank: int, arrays: dict) -> dict[str, str]:
        """Rank ``rank``'s entries of ``generation``, before rank 0 commits it (see
        :func:`~blockloop.storage.npz.write_part`); each entry's xxh3."""
        return write_part(self.paths.npz(generation, rank), arrays, f"rank {rank}")

    def _retire(self, newest: int) -> None:
        """Delete generations older than the newest ``keep`` (never ones found damaged);
        an npz file that a kept generation still reads pieces from stays."""
        keep_from = newest - self.keep + 1
        if keep_from <= 1:
            return  # generations are numbered from 1: all are kept
        numbers = self.paths.all_numbers()
        if all(n >= keep_from or n in self._bad for n in numbers):
            return  # nothing to delete
        referenced: set[int] = set()
        for number in numbers:
            if number >= keep_from or number in self._bad:
                try:
                    kept = load_manifest(self.paths.manifest(number))
                except CheckpointError:
                    continue
                referenced |= referenced_generations(kept.state.pieces.values())
        for number in numbers:
            if number >= keep_from or number in self._bad:
                continue
            doomed = [self.paths.manifest(number)]
            if number not in referenced:
                doomed += [self.paths.npz(number), *self.paths.rank_files(number)]
            for path in doomed:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                fault("retire")
