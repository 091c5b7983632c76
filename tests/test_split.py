"""How the steps of a loop split over MPI ranks, without MPI: the plan the analysis makes
(halo, exchanges in the middle of a step, reductions), the blocks cut at tiles, and the
tiles each rank computes. The runs across real ranks are in ``tests/test_mpi_shapes.py``.
"""

from __future__ import annotations

import itertools
import textwrap

import pytest

from blockloop.numerics.tiles import _bl_rank_tiles
from blockloop.operators import tile_for
from blockloop.parallel.steps import cut_rows
from blockloop.transform import SequentialLoop, Source, analyse


def plan_of(text: str) -> SequentialLoop:
    plan = analyse(Source(text=textwrap.dedent(text), filename="k.py", first_line=10))
    assert isinstance(plan, SequentialLoop)
    return plan


PREDICTOR_CORRECTOR = """
def heun(u, steps, dt):
    n = u.shape[0]
    w = u.copy()
    v = u.copy()
    for _ in range(steps):
        for i in prange(1, n - 1):
            w[i] = u[i] + dt * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in prange(1, n - 1):
            v[i] = 0.5 * (u[i] + w[i] + dt * (w[i - 2] - 2.0 * w[i] + w[i + 2]))
        u, v = v, u
    return u
"""


def test_a_loop_reading_rows_an_earlier_loop_wrote_receives_them_first():
    split = plan_of(PREDICTOR_CORRECTOR).split
    assert split.refusal is None
    assert split.exchanges == ((1, ("w",)),)  # before the corrector, w's rows
    assert split.halo == 2 and split.written == ("v", "w")


def test_reading_only_its_own_row_of_an_earlier_loop_needs_no_exchange():
    text = PREDICTOR_CORRECTOR.replace("w[i - 2]", "w[i]").replace("w[i + 2]", "w[i]")
    split = plan_of(text).split
    assert split.exchanges == () and split.halo == 1


RESIDUAL = """
def residual(u, steps, scale):
    v = u.copy()
    err = 0.0
    total = 0.0
    for _ in range(steps):
        err = 0.0
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.5 * (u[i - 1] + u[i + 1])
            err = max(err, abs(v[i] - u[i]))
        total = 0.0
        for k in prange(7):
            total += scale * k
        u, v = v, u
    return u, err, total
"""


def test_reductions_in_a_step_are_planned_with_their_bounds():
    plan = plan_of(RESIDUAL)
    first, second = plan.split.reductions
    assert (first.names, first.start, first.stop, first.rows) == (
        ("err",),
        "1",
        "u.shape[0] - 1",
        True,
    )
    assert first.line == 10 + 7  # the user's line, in the file
    assert (second.names, second.rows) == (("total",), False)  # touches no rows


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("v[i + 1] = u[i]", "`v` is written at a row other"),
        ("v[i] = u[i]\n                err += np.sum(u)", "`u` is used whole"),
        ("v[i] = u[i]\n                err += u[i]", None),
    ],
)
def test_what_splits_and_what_does_not(body, why):
    text = f"""
    def k(u, steps):
        v = u.copy()
        err = 0.0
        for _ in range(steps):
            for i in prange(u.shape[0]):
                {body}
            u, v = v, u
        return u, err
    """
    refusal = plan_of(text).split.refusal
    assert refusal == why or (why is not None and why in (refusal or "")), refusal


@pytest.mark.parametrize("n", [1000, 4099])
@pytest.mark.parametrize("size", [2, 3, 4])
def test_blocks_are_cut_at_tiles_and_every_tile_is_computed_once(n, size):
    grids = [(1, n - 2, tile_for(n - 2))]
    blocks = cut_rows(n, size, grids)
    assert blocks is not None
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
    start, count, tile = grids[0]
    for lo, hi in blocks:
        assert abs((hi - lo) - n / size) <= tile  # as even as the tiles allow
    ranges = [_bl_rank_tiles(start, count, tile, lo, hi, n, True) for lo, hi in blocks]
    assert all(ok for _, _, ok in ranges)
    assert ranges[0][0] == 0 and ranges[-1][1] == (count + tile - 1) // tile
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def test_a_block_edge_inside_a_tile_is_found():
    first, last, ok = _bl_rank_tiles(1, 998, 8, 0, 500, 1000, True)
    assert (first, last, ok) == (0, 63, False)  # 500 - 1 is not a multiple of 8
    assert _bl_rank_tiles(1, 998, 8, 0, 497, 1000, True)[2]
    assert _bl_rank_tiles(1, 998, 8, 0, 500, 1000, False)[2]  # touches no rows: any cut


def test_tiles_that_start_on_different_rows_leave_no_cut():
    grids = [(1, 998, 8), (0, 1000, 8)]
    assert cut_rows(1000, 2, grids) is None
    assert cut_rows(1000, 2, []) == [(0, 500), (500, 1000)]


def test_only_arrays_written_by_rows_under_any_name_bound_the_halo():
    """``u`` is never written in the step, but it is ``v`` of the step before: its reads
    set the halo. ``centres`` changes only outside the loops (the same on every rank), so
    its read at a data-dependent row does not make every row travel."""
    text = """
    def k(x, centres, steps):
        u = x.copy()
        v = x.copy()
        for _ in range(steps):
            for i in prange(1, u.shape[0] - 1):
                v[i] = 0.5 * (u[i - 1] + u[i + 1]) + centres[int(u[i]) % 4]
            centres[0] = centres[0] * 0.5
            u, v = v, u
        return u
    """
    split = plan_of(text).split
    assert split.written == ("v",) and split.rows == ("u", "v")
    assert split.halo == 1 and "centres" in split.outside
