"""The sequential loop kind: units are steps, the state is what the steps carry."""

from __future__ import annotations

import mmap
import os
import threading
from typing import Any

import numba
import numpy as np

from .._errors import BlockingError, CheckpointError
from ..storage.npz import dtype_text
from ..storage.store import Checkpoint
from ..transform import SequentialLoop
from .kinds import LoopKind

__all__ = ["PREFAULT_BYTES", "UNBOUNDED", "SequentialKind"]

PREFAULT_BYTES = 16 << 20  # state from which snapshot buffers are made ahead of time
UNBOUNDED = 1 << 62  # the step count of a `while` loop until it stops
_SCALARS = (bool, int, float, complex, np.bool_, np.number)


def _buffer_key(a: np.ndarray) -> tuple:
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


class SequentialKind(LoopKind):
    """A sequential loop: the state is saved between steps.

    The arrays the prologue hands to the loop (arguments included) are the run's buffers.
    A checkpoint saves every buffer and, for each state variable, which buffer it names
    (``u, v = v, u`` swaps them), a value, or an array of its own. A resume runs the
    prologue again, copies the saved contents into its buffers (so an argument array
    ends as it would have after an uninterrupted run) and rebinds the names.
    """

    unit = "step"
    asynchronous = True
    parallel_units = False  # steps run one after another, each parallel inside
    plan: SequentialLoop

    def prologue(self) -> dict[str, Any]:
        plan = self.plan
        values = self.call_prologue()
        self.bounded = plan.condition is None  # a while loop's steps are not known ahead
        self.total = len(range(*self.bounds)) if self.bounded else UNBOUNDED
        self.stopped = False
        self.state = dict(zip(plan.state, values, strict=False))
        self.buffers: list[np.ndarray] = []
        keys: dict[tuple, int] = {}
        described = []
        for name, value in self.state.items():
            if isinstance(value, np.ndarray) and not value.dtype.hasobject:
                key = _buffer_key(value)
                if key not in keys:
                    keys[key] = len(self.buffers)
                    self.buffers.append(value)
                described.append([name, "array", value.dtype.str, list(value.shape)])
            elif isinstance(value, _SCALARS):
                described.append([name, "value", np.asarray(value).dtype.str, []])
            else:
                raise BlockingError(
                    f"`{name}` is carried from one step to the next and holds a "
                    f"{type(value).__name__}, which blockloop cannot checkpoint; carry arrays "
                    "and numbers only",
                    plan.source.filename,
                    plan.bindings.get(name, plan.line),
                    0,
                )
        self.split: set[int] = set()  # buffers whose rows each MPI rank saves for itself
        self.rows: tuple[int, int] = (0, 0)  # this rank's block of those rows
        self._snap: dict[str, np.ndarray] = {}
        self._prefault: threading.Thread | None = None
        self._types: dict[str, Any] = {}
        self.report.tile_size = 1
        loop = {"range": list(self.bounds)} if self.bounded else {"while": True}
        return {**loop, "state": described}

    def reset(self) -> None:
        if self.stopped:  # a run restored after its loop stopped, then reset
            self.stopped = False
            self.total = len(range(*self.bounds)) if self.bounded else UNBOUNDED

    def restore(self, ckpt: Checkpoint, done: int) -> None:
        arrays = ckpt.arrays
        if "stopped" in arrays and bool(arrays["stopped"][()]):
            self.stopped = True
            self.total = done
        for j, buf in enumerate(self.buffers):
            parts = ckpt.pieces.get(f"buf_{j}")  # saved by blocks of rows, one per MPI rank
            if parts is not None:
                pieces = ckpt.manifest.state.pieces[f"buf_{j}"]
                if tuple(pieces.shape) != buf.shape or pieces.dtype != dtype_text(buf.dtype):
                    raise CheckpointError(f"buffer {j} does not match the run")
                if sum(values.size for _, values in parts) != buf.size:
                    raise CheckpointError(f"the rows saved of buffer {j} do not cover it")
                flat = buf.reshape(-1)
                for start, values in parts:
                    flat[start : start + values.size] = values
                continue
            saved = arrays.get(f"buf_{j}")
            if saved is None or saved.shape != buf.shape or saved.dtype != buf.dtype:
                raise CheckpointError(f"buffer {j} does not match the run")
            np.copyto(buf, saved)
        for name, where in (ckpt.manifest.state.bind or {}).items():
            if where.startswith("buf_"):
                self.state[name] = self.buffers[int(where[4:])]
            elif where.startswith("val_"):
                self.state[name] = arrays[where][()]
            else:
                self.state[name] = arrays[where]

    def allocate(self, threads: int) -> int:
        """Make the snapshot buffers on a thread while the loop computes, touching every page,
        so that the first interval checkpoint copies into memory that is already there.

        Only where a core is left idle by the kernel's threads: on a machine they fill, the
        helper thread would take a core from one of them and hold the others up at the end
        of every parallel loop it overlaps, which costs more than the first copy's page
        faults do.
        """
        # (``threads`` is 1 for a sequential loop, whose units run in turn: numba's count)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        spare = numba.get_num_threads() < (cores or 1)
        if self.state_bytes(0) >= PREFAULT_BYTES and spare and self.copies(0):
            self._prefault = threading.Thread(
                target=self._make_snapshot_buffers, name="blockloop-prefault", daemon=True
            )
            self._prefault.start()
        return 1 << 40

    def _make_snapshot_buffers(self) -> None:
        for j, buf in enumerate(self.buffers):
            snap = np.empty(buf.shape, buf.dtype)
            flat = snap.reshape(-1).view(np.uint8)
            flat[:: mmap.PAGESIZE] = 0  # first touch: the page faults happen here
            self._snap[f"buf_{j}"] = snap

    def advance(self, first: int, count: int) -> None:
        self._steps("_bl_steps", first, count)

    def advance_rows(self, first: int, lo: int, hi: int, rows: int) -> None:
        """Step ``first``, computing the rows ``lo .. hi`` of ``rows`` of its prange loops
        only (an MPI rank's block; see :mod:`blockloop.transform.split`)."""
        self._steps("_bl_split", first, 1, _bl_lo=lo, _bl_hi=hi, _bl_rows=rows)

    def _steps(self, function: str, first: int, count: int, **rows: int) -> None:
        values = {**self.carry, **self.state, "_bl_range": self.bounds, **rows}
        values.update(_bl_first=first, _bl_count=count)
        state, ran, stop = self.gen.typed(function, values, self._types)
        self.state = dict(zip(self.plan.state, state, strict=False))
        if stop:  # the loop ended here, as it would have in an uninterrupted run
            self.stopped = True
            self.total = first + int(ran)

    def snapshot(self, done: int, copy: bool) -> tuple[dict[str, np.ndarray], dict | None]:
        keys = {_buffer_key(b): j for j, b in enumerate(self.buffers)}
        # over MPI ranks, the buffers split by rows are saved by each rank for its rows
        arrays = {f"buf_{j}": b for j, b in enumerate(self.buffers) if j not in self.split}
        bind = {}
        for name, value in self.state.items():
            if isinstance(value, np.ndarray):
                j = keys.get(_buffer_key(value))
                if j is not None:
                    bind[name] = f"buf_{j}"
                    continue
                bind[name] = f"own_{name}"
                arrays[bind[name]] = value
            else:
                bind[name] = f"val_{name}"
                arrays[bind[name]] = np.asarray(value)
        if self.plan.stops:
            arrays["stopped"] = np.asarray(self.stopped)
        if copy:
            if self._prefault is not None:
                self._prefault.join()
                self._prefault = None
            arrays = {k: self._copy(k, a) for k, a in arrays.items()}
        return arrays, bind

    def _copy(self, key: str, a: np.ndarray) -> np.ndarray:
        """Copy into a snapshot buffer reused from one checkpoint to the next."""
        snap = self._snap.get(key)
        if snap is None or snap.shape != a.shape or snap.dtype != a.dtype:
            snap = self._snap[key] = np.empty(a.shape, a.dtype)
        np.copyto(snap, a)
        return snap

    def finish(self, done: int) -> object:
        return self.epilogue({**self.carry, **self.state})
