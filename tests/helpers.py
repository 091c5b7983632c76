"""Helpers shared by several test modules: a kernel with swapped state and its input.

Test clocks, crashing stores and the seams to inject them are in ``blockloop.testing``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.storage.fingerprint import jitclass_type
from blockloop.testing import Crash, Ticks, crashing_store, injected

__all__ = ["bits", "crashed_then_resumed", "fresh", "plain_bits_kept", "swap_kernel"]


def bits(value) -> bytes:
    """A value's bytes, for comparing results bit for bit (a list's, a set's or a
    jitclass instance's, member by member)."""
    if type(value).__module__.startswith("numba.typed") or isinstance(value, list):
        return b"|".join(bits(v) for v in value)
    if isinstance(value, tuple):
        return b"(" + b"|".join(bits(v) for v in value) + b")"
    if isinstance(value, (set, frozenset)):  # its members, whatever their order
        return b"{" + b"|".join(sorted(bits(v) for v in value)) + b"}"
    class_type = jitclass_type(value)
    if class_type is not None:  # a jitclass instance: its fields
        return b"{" + b"|".join(bits(getattr(value, f)) for f in class_type.struct) + b"}"
    return np.asarray(value).tobytes()


def plain_bits_kept(func, inputs: Callable[[], tuple], checkpoint_dir) -> None:
    """Check that ``func`` under blockloop returns plain numba's result and leaves every
    argument as plain numba leaves it, bit for bit (``inputs`` makes fresh, equal ones)."""
    want_args = inputs()
    want = func(*want_args)
    args = inputs()
    got = checkpointed_loop(checkpoint_dir=checkpoint_dir)(func)(*args)
    assert bits(got) == bits(want)
    assert [bits(a) for a in args] == [bits(a) for a in want_args]


def crashed_then_resumed(func, inputs: Callable[[], tuple], checkpoint_dir) -> None:
    """Crash ``func``'s blocked kernel after its first checkpoint (each chunk "takes" a
    second, so a checkpoint follows each), resume it, and check the result and every
    argument against plain numba's bits."""
    want_args = inputs()
    want = func(*want_args)
    kernel = checkpointed_loop(checkpoint_dir=checkpoint_dir, interval=1.0)(func)
    with injected(kernel, clock=Ticks(1.0)):
        with injected(kernel, store=crashing_store(1)), pytest.raises(Crash):
            kernel(*inputs())
        args = inputs()
        got = kernel(*args)
    assert kernel.last_report is not None and kernel.last_report.resumed_from is not None
    assert bits(got) == bits(want)
    assert [bits(a) for a in args] == [bits(a) for a in want_args]


@njit(parallel=True, cache=True)
def swap_kernel(u, steps):
    v = np.zeros_like(u)
    total = 0.0
    for t in range(steps):
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.25 * u[i - 1] + 0.5 * u[i] + 0.25 * u[i + 1] + 1e-3 * t
        u, v = v, u
        total += u[u.shape[0] // 2]
    return u, total


def fresh() -> np.ndarray:
    return np.sin(np.linspace(0.0, 7.0, 257))
