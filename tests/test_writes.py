"""Every write into an outer array is found: refused in a reduction loop, state in a
sequential one. The refused kernels themselves live in tests/refusal_cases.py."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.transform.writes import outer_writes
from blockloop.view.helpers import written_parameters
from tests import refusal_cases as cases


def _writes(src: str, names: set[str], helpers: dict | None = None) -> dict[str, int | None]:
    found = outer_writes(
        ast.parse(src).body, names, call_writes=lambda name: (helpers or {}).get(name)
    )
    return {name: w.rows for name, w in found.items()}


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("out[i] = 1.0", {"out": None}),
        ("out[i], flag = 1.0, 0", {"out": None}),
        ("(a, (out[i], b)) = t", {"out": None}),
        ("row = out[i]\nrow[0] = 1.0", {"out": None}),
        ("row = out[i]\nrow += 1.0", {"out": 1}),  # a row only if out has 2+ dimensions
        ("row = out[i, :]\nrow += 1.0", {"out": None}),
        ("v = out.T\nw = v[1:]\nw[0] = 1.0", {"out": None}),
        ("v = out.reshape(4, 4)\nv[0, 0] = 1.0", {"out": None}),
        ("v = np.ravel(out)\nv[0] = 1.0", {"out": None}),
        ("v = out.copy()\nv[0] = 1.0", {}),  # a copy is the loop's own
        ("v = np.zeros_like(out)\nv[0] = 1.0", {}),
        ("v = out * 2.0\nv[0] = 1.0", {}),
        ("for row in out:\n    row[0] = 1.0", {"out": None}),
        ("for k, row in enumerate(out):\n    row[0] = k", {"out": None}),
        ("out[i].fill(0.0)", {"out": None}),
        ("out.sort()", {"out": None}),
        ("s = out.sum() + out.shape[0] + len(out)", {}),
        ("np.sqrt(x, out=out)", {"out": None, "x": None}),
        ("np.sqrt(x, out)", {"out": None}),  # a ufunc's output given positionally
        ("np.add(x, 1.0, out[i])", {"out": None}),
        ("np.add(x, out)", {}),
        ("np.copyto(out, x)", {"out": None, "x": None}),
        ("y = np.dot(out, x)", {}),
        ("helper(out, x)", {"out": None, "x": None}),  # unknown helper: everything
        ("reader(out, x)", {}),
        ("writer(x, out)", {"out": None}),
        ("writer(x, out=out)", {"out": None}),
        ("writer(out, x)", {"x": None}),  # position 1 is written, whatever its name
        ("f = writer\nf(x, out)", {"out": None, "x": None}),  # a function value
        ("obj.field = 1.0", {}),  # obj is a local here
        ("out.field = 1.0", {"out": None}),
        ("one = type(x)(1)", {}),  # a computed callable given no array
        ("steps[0](out)", {"out": None}),  # a computed callable: counts as writing
    ],
)
def test_outer_writes(src, expected):
    helpers = {"reader": frozenset(), "writer": frozenset({1, "out"})}
    assert _writes(src, {"out", "x"}, helpers) == expected


def test_written_parameters_follow_aliases_and_helpers():
    fn = ast.parse("def f(a, b, *, c):\n    r = a[0]\n    r[1] = b[0]\n    g(c)\n").body[0]
    assert written_parameters(fn, lambda name: frozenset({0})) == frozenset({0, "a", "c"})
    assert written_parameters(fn, lambda name: frozenset()) == frozenset({0, "a"})


def test_an_augmented_assignment_writes_an_argument_in_place():
    """``w /= s`` changes the caller's array (numba's in-place operator): a written
    parameter, never one the run key may sample (found on a kernel of several loops)."""
    src = "def f(w, x, n, *, out):\n    s = x.sum()\n    w /= s\n    n += 1\n    out += w\n"
    fn = ast.parse(src).body[0]
    assert written_parameters(fn) == frozenset({0, "w", 2, "n", "out"})


def test_read_only_helper_is_accepted():
    kernel = checkpointed_loop(cases.ok_read_only_helper)
    assert [a.name for a in kernel.plan.accumulators] == ["s"]


def test_row_update_leaves_numbers_alone_and_saves_rows(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1e-6)(cases.ok_row_update)
    x = np.arange(10.0)
    assert kernel(x) == 10.0
    assert np.array_equal(x, np.arange(10.0))
    rows = np.ones((4, 3))
    assert kernel(rows) == 4.0
    assert np.array_equal(rows, np.full((4, 3), 2.0))  # each row doubled, as in plain numba
    manifest = sorted(kernel.run_dir(np.ones((4, 3))).glob("ckpt-*.json"))[-1]
    assert "blocks_x" in manifest.read_text()  # the rows of x were state


@njit(cache=True)
def _bump(a, k):
    a[k] += 1.0


@njit(cache=True)
def _peek(a, k):
    return a[k]


@njit(parallel=True, cache=True)
def _views_in_steps(u, w, r, steps):
    total = 0.0
    for _t in range(steps):
        for i in prange(u.shape[0]):
            row = u[i]
            row[0] += 1.0  # through a view
        _bump(w, 0)  # through a helper
        total += _peek(r, 0)  # a helper that only reads
    return total


def test_sequential_state_includes_writes_through_views_and_helpers():
    plan = checkpointed_loop(_views_in_steps).plan
    assert "u" in plan.state
    assert "w" in plan.state
    assert "r" in plan.invariants
