"""What a finished phase hands on, saved so that a later call skips the phase.

When phase *k* of a kernel of several loops has finished, the values it hands to the
phases after it (``plan.hands_on``) and the contents of every argument the kernel may write
are saved in ``phase-K/handoff.npz`` and ``phase-K/handoff.json``. A later call of the same
run (a resume) puts the arguments' contents back and takes the values from there: neither
the phase's loop nor the statements before it run again.

Only what can be given back exactly is saved: arrays, scalars and tuples of them. A value
of another kind, or one that shares memory with an argument or with another value (a view
handed on, which a later phase could write through), is not saved: the phase's own
completion checkpoint then gives its results back, after its statements run again.

Like the completion record of a short run, the handoff is not fsynced: lost in a crash of
the machine, it costs running the statements before the phase's loop once more; damaged, it
is skipped with a :class:`~blockloop.CheckpointWarning`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import CheckpointError, CheckpointWarning, warn
from ..storage.durable import durable_write
from ..storage.fingerprint import arrays_in
from ..storage.manifest import ArraySpec, Identity
from ..storage.npz import dtype_text, read_arrays, write_npz
from ..storage.rundir import read_manifest, sealed_bytes

__all__ = ["Handoff", "Restored", "read_handoff"]

_FORMAT = "blockloop-handoff-1"
WRITE_RATE = 1e9
"""Bytes per second a handoff is taken to be written at (to the page cache, unsynced), to
weigh it against what it saves."""
_PYTHON_SCALARS = {bool: "bool", int: "int", float: "float", complex: "complex"}
_PYTHON_TYPES = {name: kind for kind, name in _PYTHON_SCALARS.items()}


class _Unsaveable(Exception):
    """A value that cannot be saved and given back exactly."""


class Restored:
    """A handoff read back: the values, and the units of the phases up to this one."""

    def __init__(self, values: tuple, total: int) -> None:
        self.values, self.total = values, total


class Handoff:
    """The handoff files of one phase directory.

    Parameters
    ----------
    run_dir : Path
        The phase's directory (``RUN/phase-K``).
    identity : Identity
        The phase's identity (kernel, run key and content, phase number): a handoff of
        another run is never taken.
    """

    def __init__(self, run_dir: Path, identity: Identity) -> None:
        self.json = run_dir / "handoff.json"
        self.npz = run_dir / "handoff.npz"
        self.identity = identity

    def save(
        self,
        names: tuple[str, ...],
        values: tuple,
        given: Mapping[str, object],
        written: frozenset[str],
        total: int,
        redo_seconds: float = math.inf,
    ) -> str | None:
        """Save ``values`` (named ``names``; a value that *is* one of the ``given``
        arguments is saved as a reference to it) and the arrays of the arguments named in
        ``written``.

        ``redo_seconds`` is the most a resume would spend again without this handoff (the
        time of the phases this call ran up to here). Nothing is written, and the reason is
        returned, when the values cannot be given back exactly, or when writing them would
        take longer than that (estimated at :data:`WRITE_RATE`): the phases' checkpoints
        then stand in, as they do for a handoff lost in a crash.
        """
        arrays: dict[str, np.ndarray] = {}
        try:
            layout = [
                {"argument": name}
                if name in given and value is given[name]
                else _encode(value, arrays)
                for name, value in zip(names, values, strict=True)
            ]
            own = list(arrays.values())
            args = {name: _encode(given[name], arrays) for name in sorted(written)}
        except _Unsaveable:
            return "a value it hands on cannot be saved"
        theirs = [a for v in given.values() for a in arrays_in(v)]
        for k, a in enumerate(own):  # a view handed on: a later phase may write through it
            if any(np.may_share_memory(a, b) for b in [*own[k + 1 :], *theirs]):
                return "a value it hands on is a view"
        nbytes = sum(a.nbytes for a in arrays.values())
        if nbytes / WRITE_RATE > redo_seconds:
            return f"{nbytes} bytes: longer to write than the {redo_seconds:.3g} s it saves"
        self.json.parent.mkdir(parents=True, exist_ok=True)
        digests: dict[str, str] = {}

        def npz(f: Any) -> None:
            digests.update(write_npz(f, arrays, early_writeback=False))

        durable_write(self.npz, npz, "handoff-npz", sync=False)
        body = {
            "format": _FORMAT,
            "identity": self.identity.to_json(),
            "values": layout,
            "arguments": args,
            "total": total,
            "arrays": {
                name: ArraySpec(dtype_text(a.dtype), tuple(a.shape), digests[name]).to_json()
                for name, a in arrays.items()
            },
        }
        durable_write(self.json, lambda f: f.write(sealed_bytes(body)), "handoff-json", sync=False)
        return None

    def load(self, given: Mapping[str, object], written: frozenset[str]) -> Restored | None:
        """The saved values, with the saved contents of the ``written`` arguments copied
        back into ``given``'s; None when there is no handoff (or a damaged one: warned
        about, and nothing copied)."""
        if not self.json.exists():
            return None
        try:
            body, arrays = read_handoff(self.json)
            key = self.identity.mismatch(Identity.from_json(body["identity"]))
            if key is not None:
                raise CheckpointError(f"it belongs to another run ({key} differs)")
            saved = body["arguments"]
            if set(saved) != written:
                raise CheckpointError("it saved other arguments")
            for name in written:  # every check before the first copy
                _check_into(given[name], saved[name], arrays)
            for name in written:
                _copy_into(given[name], saved[name], arrays)
            values = tuple(
                given[v["argument"]] if "argument" in v else _decode(v, arrays)
                for v in body["values"]
            )
            return Restored(values, int(body["total"]))
        except (CheckpointError, KeyError, TypeError, ValueError) as exc:
            warn(
                f"skipping {self.json}: {exc}; the phase's own checkpoint is used instead",
                CheckpointWarning,
            )
            return None


def read_handoff(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A handoff's JSON body and its arrays, every checksum verified.

    Raises
    ------
    CheckpointError
        If either file is missing, damaged or not a handoff.
    """
    body = read_manifest(path)
    if body.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a handoff of this blockloop")
    try:
        specs = {k: ArraySpec.from_json(v, k) for k, v in body["arrays"].items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed handoff ({exc})") from None
    return body, read_arrays(path.with_suffix(".npz"), specs)


def _encode(value: object, arrays: dict[str, np.ndarray]) -> dict:
    """The JSON layout of ``value``; its arrays (and scalars, as 0-d arrays) go in
    ``arrays`` under new names."""
    if isinstance(value, tuple):  # a namedtuple argument too (given back as a tuple)
        return {"tuple": [_encode(v, arrays) for v in value]}
    key = f"v{len(arrays)}"
    if type(value) is np.ndarray:
        if value.dtype.hasobject:
            raise _Unsaveable
        order = "F" if value.flags.f_contiguous and not value.flags.c_contiguous else "C"
        arrays[key] = value
        return {"array": key, "order": order}
    if type(value) in _PYTHON_SCALARS:
        arrays[key] = np.asarray(value)
        return {"scalar": key, "python": _PYTHON_SCALARS[type(value)]}
    if isinstance(value, np.number | np.bool_):
        arrays[key] = np.asarray(value)
        return {"scalar": key}
    raise _Unsaveable


def _decode(layout: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> object:
    if "tuple" in layout:
        return tuple(_decode(v, arrays) for v in layout["tuple"])
    if "array" in layout:
        a = arrays[layout["array"]]
        return np.asfortranarray(a) if layout["order"] == "F" else a
    value = arrays[layout["scalar"]][()]
    python = layout.get("python")
    return _PYTHON_TYPES[python](value) if python else value


def _pairs(value: object, layout: Mapping[str, Any]) -> Iterator[tuple[np.ndarray, str]]:
    """Each array of the argument ``value`` with the saved array that ``layout`` names."""
    if "tuple" in layout:
        members = layout["tuple"]
        if not isinstance(value, tuple) or len(value) != len(members):
            raise CheckpointError("an argument does not have the saved layout")
        for v, m in zip(value, members, strict=True):
            yield from _pairs(v, m)
    elif "array" in layout:
        if not isinstance(value, np.ndarray):
            raise CheckpointError("an argument does not have the saved layout")
        yield value, layout["array"]


def _check_into(value: object, layout: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    for target, key in _pairs(value, layout):
        saved = arrays[key]
        if saved.shape != target.shape or saved.dtype != target.dtype:
            raise CheckpointError("a saved argument does not fit the one given")


def _copy_into(value: object, layout: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    for target, key in _pairs(value, layout):
        np.copyto(target, arrays[key], casting="no")
