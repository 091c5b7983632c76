"""Young/Daly formulas against published values, and the policy's decisions."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from blockloop import daly_interval, young_interval
from blockloop.config import parse_duration
from blockloop.scheduling.policy import Policy, expected_waste
from tests.conftest import ROOT, child_env


@pytest.mark.parametrize(
    ("cost", "mtbf", "expected"),
    [(5, 1440, 116.69), (5, 360, 56.71), (5, 15, 9.14)],  # Daly 2006, minutes
)
def test_daly_published_values(cost, mtbf, expected):
    assert daly_interval(cost, mtbf) == pytest.approx(expected, abs=0.005)


def test_daly_large_cost_branch_returns_mtbf():
    assert daly_interval(10, 4) == 4
    assert daly_interval(8, 4) == 4  # delta == 2M is in the M branch


def test_young():
    assert young_interval(5, 360) == pytest.approx(60, rel=1e-3)
    assert young_interval(2, 100) == pytest.approx(20)


def test_daly_is_near_the_model_optimum():
    cost, mtbf = 30.0, 3600.0
    tau = daly_interval(cost, mtbf)
    grid = [tau * f for f in (0.5, 0.8, 0.9, 1.1, 1.25, 2.0)]
    best = expected_waste(tau, cost, mtbf)
    assert all(expected_waste(t, cost, mtbf) >= best - 1e-4 for t in grid)


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, "5"])
def test_formulas_refuse_bad_numbers(bad):
    with pytest.raises(ValueError, match="positive finite"):
        daly_interval(bad, 100)
    with pytest.raises(ValueError, match="positive finite"):
        young_interval(1, bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        (90, 90),
        ("45m", 2700),
        ("6h", 21600),
        ("2d", 172800),
        ("1.5h", 5400),
        ("30s", 30),
        ("10 min", 600),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6 hours", "h", "-5", "0", True, "1e999"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match=r"duration|positive"):
        parse_duration(text)


@pytest.mark.parametrize("cost", [0.001, 2.0])
def test_policy_interval_follows_measured_write_cost(cost):
    """With an injected write cost (no sleeping), the interval is Daly's for that cost."""
    policy = Policy(mtbf=3600.0)
    for _ in range(5):
        policy.record_write(cost)
    assert policy.write_cost == pytest.approx(cost)
    assert policy.interval == pytest.approx(daly_interval(cost, 3600.0))
    policy.since = policy.interval * 0.99
    assert not policy.due()
    policy.since = policy.interval
    assert policy.due()


def test_policy_costs_give_different_intervals():
    fast, slow = Policy(mtbf=3600.0), Policy(mtbf=3600.0)
    fast.record_write(0.001)
    slow.record_write(2.0)
    assert slow.interval / fast.interval == pytest.approx(
        daly_interval(2.0, 3600) / daly_interval(0.001, 3600)
    )
    assert slow.interval > 30 * fast.interval


def test_fixed_interval_overrides():
    policy = Policy(mtbf=3600.0, interval=7.0)
    policy.record_write(100.0)
    assert policy.interval == 7.0


def test_chunk_sizing_targets_a_fraction_of_a_second():
    policy = Policy(mtbf=86400.0, threads=2, max_units=10**6)
    tiles = policy.next_units(10**9)
    for _ in range(12):  # 1 ms per tile, measured
        policy.record_chunk(tiles, tiles * 1e-3)
        tiles = policy.next_units(10**9)
    assert tiles * 1e-3 == pytest.approx(policy.chunk_seconds, rel=0.05)
    assert tiles % 2 == 0
    assert policy.next_units(3) == 3


@pytest.mark.parametrize("threads", [2, 16, 64])
def test_a_chunk_of_slow_tiles_still_gives_every_thread_one(threads):
    """A tile slower than the wanted chunk (a wide histogram's 8 MB partial) must not shrink
    chunks to one tile, which would leave every other thread idle."""
    policy = Policy(mtbf=86400.0, threads=threads, max_units=10**6)
    tiles = policy.next_units(10**9)
    for _ in range(6):  # each tile takes 0.5 s on its thread: a round of tiles 0.5 s
        policy.record_chunk(tiles, 0.5 * tiles / threads)
        tiles = policy.next_units(10**9)
        assert tiles >= threads and tiles % threads == 0
    capped = Policy(mtbf=86400.0, threads=threads, max_units=threads - 1)  # partials' memory
    capped.record_chunk(1, 5.0)
    assert capped.next_units(10**9) == threads - 1


def test_chunk_is_short_when_the_interval_is_short():
    policy = Policy(mtbf=60.0, interval=0.5, threads=1)
    assert policy.chunk_seconds == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("interval", "gap"), [(0.04, 0.04), (0.42, 0.42), (3.0, 3.0), (1e-6, 0.01)]
)
def test_chunks_end_when_the_checkpoint_is_due(interval, gap):
    """Checkpoints come every ``interval`` of compute, also when the shortest worthwhile
    chunk (1000 dispatches of 0.1 ms) is longer than the interval; but a chunk is never
    cut below 100 dispatches (10 ms), however short the interval."""
    policy = Policy(mtbf=60.0, interval=interval, threads=2, max_units=10**6)
    policy.dispatch = 1e-4
    clock, written = 0.0, []
    while clock < 30 * gap:
        tiles = policy.next_units(10**9)
        policy.record_chunk(tiles, tiles * 1e-3)  # 1 ms per tile, measured
        clock += tiles * 1e-3
        if policy.due():
            written.append(clock)
            policy.checkpointed()
    gaps = np.diff(written)[3:]  # after the speed estimate has settled
    assert gaps == pytest.approx(gap, rel=0.03, abs=2.5e-3)  # or two tiles


def test_mtbf_is_refined_from_the_runs_own_failures():
    from blockloop.runtime import refine_mtbf

    clean = [{"start": 0.0, "last": 500.0, "end": "signal SIGTERM"}]
    assert refine_mtbf(3600.0, clean) == 3600.0  # no failure: the prior stands
    failed = [
        {"start": 0.0, "last": 600.0, "end": "interval"},
        {"start": 700.0, "last": 1300.0, "end": "interval"},
        {"start": 1400.0, "last": 2000.0, "end": "complete"},
    ]
    # two failures over 1800 s of exposure, the prior counting as one quiet observation
    assert refine_mtbf(3600.0, failed) == (3600.0 + 1800.0) / 3


def _wide(threads: int, root) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.wide_machine", str(root)],
        cwd=ROOT,
        env=child_env(NUMBA_NUM_THREADS=str(threads)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_threads(tmp_path_factory):
    return _wide(2, tmp_path_factory.mktemp("wide2"))


@pytest.mark.parametrize("threads", [16, 64])
def test_wide_machines_get_four_tiles_per_thread_in_every_chunk(threads, two_threads, tmp_path):
    """On 16 and 64 threads (oversubscribed here), every chunk but the last holds at least
    4 tiles per thread, or all the tiles left, or as many as the partials have room for; the
    room is 4 tiles per thread even for a 10^5-bin histogram; the bits are the 2-thread ones."""
    wide = _wide(threads, tmp_path)
    assert wide["threads"] == threads
    for name in ("pi", "wide_histogram"):
        case = wide[name]
        tiles, chunks = case["tiles"], case["chunks"]
        assert case["max_tiles"] >= min(4 * threads, tiles)
        assert sum(chunks) == tiles
        left = tiles
        for count in chunks[:-1]:
            assert count >= min(4 * threads, left, case["max_tiles"]), (name, chunks)
            left -= count
        assert case["bits"] == two_threads[name]["bits"]
