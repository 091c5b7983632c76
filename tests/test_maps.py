"""Loops that write outer arrays: map writes saved as segments of finished rows, every
other write saved whole by changed blocks; crashes and resumes leave every array with the
bits of plain numba. The kernels live in tests/map_kernels.py."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from blockloop import BlockingError, CheckpointWarning, checkpointed_loop
from blockloop.runtime import saved
from blockloop.runtime.saved import ChangedBlocks
from blockloop.storage.manifest import RunState
from blockloop.storage.pieces import PieceSet
from blockloop.storage.store import RunPaths, Store, read_manifest
from blockloop.testing import Crash, Ticks, crashing_store, injected
from blockloop.tools import cli
from tests import map_kernels as mk
from tests import refusal_cases as cases


def _blocked(name, tmp_path, **options):
    """The kernel, checkpointed every second: with ``clock=Ticks(1.0)`` injected, every
    chunk "takes" a second, so a checkpoint comes after each."""
    return checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0, **options)(getattr(mk, name))


def _arrays(value):
    """The arrays in a result or an argument list, flattened (namedtuples included)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, tuple):
        return [a for v in value for a in _arrays(v)]
    return []


@pytest.mark.parametrize("name", sorted(mk.EXPECTED))
def test_writes_are_classified(name):
    plan = checkpointed_loop(getattr(mk, name)).plan
    assert (plan.maps, plan.blocks) == mk.EXPECTED[name]
    text = checkpointed_loop(getattr(mk, name)).blocked_source
    if plan.maps:
        assert "saved as segments of finished rows: " + ", ".join(plan.maps) in text
    if plan.blocks:
        assert "saved whole by changed blocks: " + ", ".join(plan.blocks) in text


@pytest.mark.parametrize("crash_after", [1, 4])
@pytest.mark.parametrize("name", sorted(mk.EXPECTED))
def test_crash_and_resume_gives_plain_numbas_arrays(name, crash_after, tmp_path):
    kernel = getattr(mk, name)
    plain_args = mk.inputs(name)
    plain = kernel(*plain_args)

    never = checkpointed_loop(checkpoint_dir=tmp_path / "never", interval=1e9)(kernel)
    uninterrupted = never(*mk.inputs(name))

    blocked = _blocked(name, tmp_path / "run")
    with injected(blocked, clock=Ticks(1.0)):
        with injected(blocked, store=crashing_store(crash_after)), pytest.raises(Crash):
            blocked(*mk.inputs(name))
        args = mk.inputs(name)  # the caller passes the same inputs again
        result = blocked(*args)
    assert blocked.last_report.resumed_from, "the second call must resume"
    got, want = _arrays(args) + _arrays(result), _arrays(plain_args) + _arrays(plain)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)  # map and whole-state writes: plain numba's bits
    if not isinstance(result, np.ndarray):  # reductions: the bits of an uninterrupted run
        assert repr(result) == repr(uninterrupted)


def test_segments_hold_each_row_once_and_are_compacted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(saved, "MAX_PIECES", 8)
    kernel = _blocked("row_norms", tmp_path, keep=1000)
    x, out = mk.inputs("row_norms")
    with injected(kernel, clock=Ticks(1.0)):
        kernel(x, out)
    expected = np.zeros_like(out)
    mk.row_norms(x, expected)
    assert np.array_equal(out, expected)
    run = RunPaths(tmp_path, kernel.run_dir(*mk.inputs("row_norms")).name)
    manifests = [read_manifest(run.manifest(g)) for g in run.generations()]
    assert len(manifests) > 8
    written = sum(
        int(np.prod(spec["shape"]))
        for m in manifests
        for k, spec in m["arrays"].items()
        if k.startswith("map_")
    )
    assert out.size <= written < 5 * out.size  # once each, plus log2(merges) rewrites
    for m in manifests:
        pieces = m["pieces"]["out"]["pieces"]
        assert len(pieces) <= 8
        assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))  # one range of rows
    cli.main(["show", str(run.run_dir)])
    assert "saved       out: <f8 (30011,) in " in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_segment_falls_back_to_the_previous_generation(damage, tmp_path):
    kernel = _blocked("row_norms", tmp_path, keep=3)
    with injected(kernel, clock=Ticks(1.0)):
        with injected(kernel, store=crashing_store(5)), pytest.raises(Crash):
            kernel(*mk.inputs("row_norms"))
        run = kernel.run_dir(*mk.inputs("row_norms"))
        newest = sorted(run.glob("ckpt-*.npz"))[-1]
        data = bytearray(newest.read_bytes())
        if damage == "flip":
            data[len(data) // 2] ^= 0xFF  # one byte of the newest segment's rows
        else:
            del data[len(data) // 2 :]
        newest.write_bytes(bytes(data))
        x, out = mk.inputs("row_norms")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kernel(x, out)
    messages = [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]
    assert any(newest.name in m for m in messages), messages
    expected = np.zeros_like(out)
    mk.row_norms(x, expected)
    assert np.array_equal(out, expected)
    assert kernel.last_report.resumed_from  # from an older generation, not from scratch


def test_changed_blocks_write_only_what_changed_and_read_back(tmp_path):
    array = np.arange(4 * (1 << 17), dtype=np.float64)  # 4 MiB: four blocks
    tracker = ChangedBlocks("u", array)
    store = Store(RunPaths(tmp_path, "run"), {"kernel": "k", "run_key": "r"}, keep=1)

    def commit():
        entries, pieces = tracker.snapshot(0, copy=False)
        state = RunState("k", "tile", 0, 1, "interval", pieces={"u": pieces})
        with store:
            store.save(entries, state)
        tracker.adopt(store.last_manifest.state.pieces["u"])
        return sum(e.nbytes for e in entries.values())

    assert commit() == 0  # as the loop found it: a resumed run starts from the same
    array[(1 << 17) + 5] = -1.0  # one element of the second block
    assert commit() == 1 << 20
    assert commit() == 0
    array[3 << 17] = -2.0  # the fourth block
    assert commit() == 1 << 20
    with store:
        ckpt = store.load()
    assert [p.name for p in sorted((tmp_path / "run").glob("*.json"))] == ["ckpt-000004.json"]
    assert (tmp_path / "run" / "ckpt-000002.npz").exists()  # still read from
    assert not (tmp_path / "run" / "ckpt-000003.npz").exists()  # held nothing new
    back = ChangedBlocks("u", np.arange(4 * (1 << 17), dtype=np.float64))
    back.restore(ckpt.manifest.state.pieces["u"], ckpt.pieces["u"])
    assert np.array_equal(back.array, array)
    assert isinstance(ckpt.manifest.state.pieces["u"], PieceSet)


def test_loop_carried_read_is_refused_at_its_line():
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(cases.bad_carried_read)
    assert info.value.lineno == cases.bad_carried_read.__code__.co_firstlineno + 2
    assert "`a[i - 1]` reads `a`, and `a[i] = a[i - 1] + x[i]` (line" in info.value.msg
    assert "an iteration may read what another writes" in info.value.msg


def test_changed_blocks_stay_in_a_bounded_number_of_files(tmp_path, monkeypatch):
    monkeypatch.setattr(saved, "MAX_PIECES", 3)
    array = np.zeros(16 * (1 << 17))  # 16 blocks
    tracker = ChangedBlocks("u", array)
    store = Store(RunPaths(tmp_path, "run"), {"kernel": "k", "run_key": "r"}, keep=2)
    for k in range(16):  # one more block each time, as a loop that fills rows in order
        array[k << 17 : (k + 1) << 17] = k + 1.0
        entries, pieces = tracker.snapshot(0, copy=True)
        with store:
            store.save(entries, RunState("k", "tile", k, 16, "interval", pieces={"u": pieces}))
        tracker.adopt(store.last_manifest.state.pieces["u"])
        assert len({(p.generation, p.key) for p in tracker.pieces}) <= 3
    with store:
        ckpt = store.load()
    back = ChangedBlocks("u", np.zeros_like(array))
    back.restore(ckpt.manifest.state.pieces["u"], ckpt.pieces["u"])
    assert np.array_equal(back.array, array)
    assert len(list((tmp_path / "run").glob("*.npz"))) <= 2 + 3  # kept ones and those read
