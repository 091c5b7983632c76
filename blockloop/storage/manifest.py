"""The checkpoint's contracts: a run's identity, its sessions, its policy and its manifest.

Frozen dataclasses with ``to_json`` / ``from_json``. ``from_json`` is the only reader of a
manifest's JSON: anything malformed raises :class:`~blockloop.CheckpointError`, so a
damaged or foreign file is skipped like a corrupt one. The JSON keys are format 1's:
a checkpoint written by blockloop 0.1.0 reads the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .._errors import CheckpointError
from .fingerprint import Content
from .pieces import PieceSet

__all__ = [
    "FORMAT",
    "UNITS",
    "ArraySpec",
    "Identity",
    "Manifest",
    "PolicyState",
    "RunState",
    "Session",
]

FORMAT = 1
UNITS = ("tile", "step")  # what a loop's progress is counted in
_VERSION = "version_"
_T = TypeVar("_T")


_PLAIN = (int, float, str, bool)
_MISSING = object()


def _get(data: Mapping[str, Any], key: str, kind: Callable[[Any], _T], where: str) -> _T:
    """``kind(data[key])``, or a :class:`CheckpointError` naming ``where`` and the key."""
    if type(data) is dict:  # what json gives: the common cases without the checks below
        value = data.get(key, _MISSING)
        if type(value) is kind and kind in _PLAIN:
            return value
    if not isinstance(data, Mapping) or key not in data:
        raise CheckpointError(f"{where}: `{key}` is missing")
    value = data[key]
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise CheckpointError(f"{where}: `{key}` is not a number")
    if kind is int and not isinstance(value, int):
        raise CheckpointError(f"{where}: `{key}` is not an integer")
    if kind is float and not math.isfinite(value):
        raise CheckpointError(f"{where}: `{key}` is not a finite number")
    if kind is str and not isinstance(value, str):
        raise CheckpointError(f"{where}: `{key}` is not a string")
    if kind is bool and not isinstance(value, bool):
        raise CheckpointError(f"{where}: `{key}` is not true or false")
    try:
        return kind(value)
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{where}: `{key}` is malformed ({exc})") from None


def _mapping(value: Any) -> dict:
    if not isinstance(value, Mapping):
        raise TypeError("not an object")
    return dict(value)


@dataclass(frozen=True)
class Identity:
    """What must match for a checkpoint to belong to a run.

    Attributes
    ----------
    kernel : str
        The kernel's name.
    run_key : str
        Hash of the kernel's source, its helpers and the arguments (large arrays the
        kernel only reads enter it by a sample of their content).
    content : Content
        The full hash of those sampled arrays, computed when first needed (when a
        checkpoint is checked or written). Empty when nothing was sampled.
    versions : mapping
        Package versions (``blockloop``, ``numba``): a difference is a warning only.
    loop : mapping
        Facts the run fixes once its prologue has run (tile size, range, accumulators or
        state layout); JSON values.
    """

    kernel: str
    run_key: str
    versions: Mapping[str, str] = field(default_factory=dict)
    loop: Mapping[str, Any] = field(default_factory=dict)
    content: Content = field(default_factory=Content, compare=False)

    def with_loop(self, **facts: Any) -> Identity:
        """This identity with more loop facts."""
        return replace(self, loop={**self.loop, **facts})

    def to_json(self) -> dict:
        out: dict[str, Any] = {"kernel": self.kernel, "run_key": self.run_key}
        content = self.content.value()
        if content:
            out["content"] = content
        out.update({_VERSION + k: v for k, v in self.versions.items()})
        out.update(self.loop)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "identity") -> Identity:
        data = _get({"identity": data}, "identity", _mapping, where)
        rest = {k: v for k, v in data.items() if k not in ("kernel", "run_key", "content")}
        content = _get(data, "content", str, where) if "content" in data else ""
        return cls(
            kernel=_get(data, "kernel", str, where),
            run_key=_get(data, "run_key", str, where),
            content=Content.known(content),
            versions={k[len(_VERSION) :]: v for k, v in rest.items() if k.startswith(_VERSION)},
            loop={k: v for k, v in rest.items() if not k.startswith(_VERSION)},
        )

    def mismatch(self, theirs: Identity) -> str | None:
        """The first key of this identity that ``theirs`` does not share, versions aside."""
        mine = {k: v for k, v in self.to_json().items() if not k.startswith(_VERSION)}
        other = theirs.to_json()
        return next((k for k, v in mine.items() if other.get(k) != v), None)

    def version_changes(self, theirs: Identity) -> list[str]:
        """``"numba 0.59 -> 0.60"`` for each version that differs from ``theirs``."""
        return [
            f"{k} {theirs.versions.get(k)} -> {v}"
            for k, v in self.versions.items()
            if theirs.versions.get(k) != v
        ]


@dataclass(frozen=True)
class Session:
    """One process's time with the run: when it started, last checkpointed, and why."""

    start: float
    last: float
    end: str

    def to_json(self) -> dict:
        return {"start": self.start, "last": self.last, "end": self.end}

    @classmethod
    def from_json(cls, data: Any, where: str = "session") -> Session:
        return cls(
            start=_get(data, "start", float, where),
            last=_get(data, "last", float, where),
            end=_get(data, "end", str, where),
        )


@dataclass(frozen=True)
class PolicyState:
    """What the interval policy had learnt at a checkpoint."""

    write_cost: float
    interval: float
    mtbf: float

    def to_json(self) -> dict:
        return {"write_cost": self.write_cost, "interval": self.interval, "mtbf": self.mtbf}

    @classmethod
    def from_json(cls, data: Any, where: str = "policy") -> PolicyState:
        return cls(
            write_cost=_get(data, "write_cost", float, where),
            interval=_get(data, "interval", float, where),
            mtbf=_get(data, "mtbf", float, where),
        )


@dataclass(frozen=True)
class ArraySpec:
    """One saved array: its dtype (``"<f8"``), shape and xxh3-64 of its bytes."""

    dtype: str
    shape: tuple[int, ...]
    xxh3: str

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape), "xxh3": self.xxh3}

    @classmethod
    def from_json(cls, data: Any, where: str = "array") -> ArraySpec:
        def shape(value: Any) -> tuple[int, ...]:
            if not isinstance(value, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value
            ):
                raise ValueError("not a list of sizes")
            return tuple(value)

        return cls(
            dtype=_get(data, "dtype", str, where),
            shape=_get(data, "shape", shape, where),
            xxh3=_get(data, "xxh3", str, where),
        )


@dataclass(frozen=True)
class RunState:
    """What the run records at a checkpoint: progress, history, policy, loop layout.

    Attributes
    ----------
    kernel : str
        The kernel's name.
    unit : str
        What progress counts: ``"tile"`` (reductions) or ``"step"`` (sequential loops).
    done, total : int
        Units done and in all.
    reason : str
        Why this checkpoint was written (``interval``, ``complete``, ``signal SIGTERM``,
        ``deadline``).
    compute_seconds : float
        Compute time of the whole run so far, all sessions.
    sessions : tuple of Session
        The run's recent sessions, this one last.
    policy : PolicyState or None
        The interval policy's state.
    bind : mapping or None
        Sequential loops: the saved array each state variable names.
    pieces : mapping of str to PieceSet
        Arrays saved in pieces shared between generations (map outputs, arrays a loop
        writes anywhere); absent from the JSON when there are none. Before the commit,
        new pieces have generation 0.
    """

    kernel: str
    unit: str
    done: int
    total: int
    reason: str
    compute_seconds: float = 0.0
    sessions: tuple[Session, ...] = ()
    policy: PolicyState | None = None
    bind: Mapping[str, str] | None = None
    pieces: Mapping[str, PieceSet] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "kernel": self.kernel,
            f"next_{self.unit}": self.done,
            f"{self.unit}s_total": self.total,
            "complete": self.complete,
            "reason": self.reason,
            "compute_seconds": self.compute_seconds,
            "sessions": [s.to_json() for s in self.sessions],
        }
        if self.policy is not None:
            out["policy"] = self.policy.to_json()
        if self.bind is not None:
            out["bind"] = dict(self.bind)
        if self.pieces:
            out["pieces"] = {name: p.to_json() for name, p in self.pieces.items()}
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "manifest") -> RunState:
        data = _get({"state": data}, "state", _mapping, where)
        unit = next((u for u in UNITS if f"next_{u}" in data), None)
        if unit is None:
            raise CheckpointError(f"{where}: the progress (`next_tile` or `next_step`) is missing")

        def sessions(value: Any) -> tuple[Session, ...]:
            if not isinstance(value, list):
                raise ValueError("not a list")
            return tuple(Session.from_json(s, f"{where}: session") for s in value)

        def pieces(value: Any) -> dict[str, PieceSet]:
            return {
                str(k): PieceSet.from_json(v, f"{where}: pieces of {k!r}")
                for k, v in _mapping(value).items()
            }

        def bind(value: Any) -> dict[str, str]:
            value = _mapping(value)
            if not all(isinstance(v, str) for v in value.values()):
                raise ValueError("not a map of names")
            return value

        done = _get(data, f"next_{unit}", int, where)
        total = _get(data, f"{unit}s_total", int, where)
        if not 0 <= done <= total:  # before any of it indexes compiled code's arrays
            raise CheckpointError(f"{where}: `next_{unit}` {done} is outside 0..{total}")
        return cls(
            kernel=_get(data, "kernel", str, where),
            unit=unit,
            done=done,
            total=total,
            reason=_get(data, "reason", str, where),
            compute_seconds=_get(data, "compute_seconds", float, where),
            sessions=_get(data, "sessions", sessions, where),
            policy=(
                PolicyState.from_json(data["policy"], f"{where}: policy")
                if "policy" in data
                else None
            ),
            bind=_get(data, "bind", bind, where) if "bind" in data else None,
            pieces=_get(data, "pieces", pieces, where) if "pieces" in data else {},
        )


@dataclass(frozen=True)
class Manifest:
    """One generation's commit record: the run's state and the arrays that hold it.

    Attributes
    ----------
    generation : int
        The generation's number.
    identity : Identity
        The run it belongs to.
    arrays : mapping of str to ArraySpec
        The arrays in the generation's npz file.
    npz_size : int
        That file's size in bytes.
    written : float
        When it was committed (epoch seconds).
    state : RunState
        What the run recorded.
    format : int
        The manifest format (1).
    """

    generation: int
    identity: Identity
    arrays: Mapping[str, ArraySpec]
    npz_size: int
    written: float
    state: RunState
    format: int = FORMAT

    def to_json(self) -> dict:
        return {
            "format": self.format,
            "generation": self.generation,
            "identity": self.identity.to_json(),
            "arrays": {name: spec.to_json() for name, spec in self.arrays.items()},
            "npz_size": self.npz_size,
            "written": self.written,
            **self.state.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "manifest") -> Manifest:
        """Read a manifest's JSON.

        Raises
        ------
        CheckpointError
            If the format is not this blockloop's or anything is missing or malformed.
        """
        data = _get({"manifest": data}, "manifest", _mapping, where)
        fmt = data.get("format")
        if fmt != FORMAT:
            raise CheckpointError(f"format {fmt!r}, expected {FORMAT}")

        def arrays(value: Any) -> dict[str, ArraySpec]:
            value = _mapping(value)
            return {
                str(k): ArraySpec.from_json(v, f"{where}: array {k!r}") for k, v in value.items()
            }

        return cls(
            generation=_get(data, "generation", int, where),
            identity=Identity.from_json(data.get("identity"), f"{where}: identity"),
            arrays=_get(data, "arrays", arrays, where),
            npz_size=_get(data, "npz_size", int, where),
            written=_get(data, "written", float, where),
            state=RunState.from_json(data, where),
        )
