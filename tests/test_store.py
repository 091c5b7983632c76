"""Damaged checkpoints, run identity and the run lock."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from blockloop import CheckpointError, CheckpointWarning
from blockloop.storage.npz import dtype_of, dtype_text
from blockloop.storage.store import RunPaths, read_manifest
from kernels.pi import pi
from tests.conftest import spawn

N = 20_000_000


@pytest.fixture
def finished_run(ckdir, monkeypatch):
    """A completed pi run whose previous generation is an incomplete one."""
    monkeypatch.setenv("BLOCKLOOP_INTERVAL", "0.000001")  # a checkpoint after every chunk
    expected = pi(N)
    report = pi.last_report
    paths = RunPaths(ckdir, report.run_dir.rsplit("/", 1)[1])
    generations = paths.generations()
    assert len(generations) == 2 and report.checkpoints >= 3
    newest, older = generations[-1], generations[0]
    assert read_manifest(paths.manifest(newest))["complete"]
    assert not read_manifest(paths.manifest(older))["complete"]
    return expected, paths, newest, older


def _resume_expecting_warning(match: str):
    with pytest.warns(CheckpointWarning, match=match):
        result = pi(N)
    return result, pi.last_report


def test_truncated_newest_falls_back_to_older(finished_run):
    expected, paths, newest, older = finished_run
    older_tile = read_manifest(paths.manifest(older))["next_tile"]
    npz = paths.npz(newest)
    npz.write_bytes(npz.read_bytes()[:-40])
    result, report = _resume_expecting_warning(rf"ckpt-{newest:06d}\.json.*truncated")
    assert report.resumed_from == older_tile and not report.already_complete
    assert result.hex() == expected.hex()
    assert npz.exists()  # the damaged file is kept


def test_flipped_byte_in_array_data_falls_back(finished_run):
    expected, paths, newest, _ = finished_run
    npz = paths.npz(newest)
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0x10
    npz.write_bytes(bytes(data))
    result, report = _resume_expecting_warning(rf"ckpt-{newest:06d}\.json")
    assert report.resumed_from is not None and not report.already_complete
    assert result.hex() == expected.hex()


def test_flipped_byte_in_manifest_falls_back(finished_run):
    expected, paths, newest, _ = finished_run
    manifest = paths.manifest(newest)
    text, flipped = re.subn(r'"complete":\s*true', '"complete":false', manifest.read_text())
    assert flipped == 1
    manifest.write_text(text)
    result, _ = _resume_expecting_warning("manifest checksum mismatch")
    assert result.hex() == expected.hex()


def test_all_generations_corrupt_restarts_cleanly(finished_run):
    expected, paths, newest, older = finished_run
    for g in (newest, older):
        paths.npz(g).write_bytes(b"not a zip file")
    with pytest.warns(CheckpointWarning) as caught:
        result = pi(N)
    messages = [str(w.message) for w in caught]
    assert any("no usable checkpoint" in m for m in messages)
    assert pi.last_report.resumed_from is None
    assert result.hex() == expected.hex()
    assert paths.npz(older).read_bytes() == b"not a zip file"  # kept for inspection


def test_checkpoint_is_plain_numpy_and_json(finished_run):
    _, paths, newest, _ = finished_run
    manifest = json.loads(paths.manifest(newest).read_text())
    with np.load(paths.npz(newest), allow_pickle=False) as data:
        stack = data["stack_total"]
    assert manifest["arrays"]["stack_total"]["shape"] == list(stack.shape)
    assert manifest["identity"]["tile"] > 0 and manifest["identity"]["range"] == [0, N, 1]


def test_different_arguments_are_a_different_run(ckdir):
    pi(1_000_000)
    first = pi.last_report.run_dir
    pi(1_000_001)
    assert pi.last_report.run_dir != first
    assert pi.last_report.resumed_from is None


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULE = """
from numba import njit, prange
from blockloop import checkpointed_loop

@njit
def weight(x):
    return {helper}

@checkpointed_loop
@njit(parallel=True)
def kernel(n):
    s = 0.0
    for i in prange(n):
        s += weight(i * {scale})
    return s
"""


@pytest.mark.parametrize(
    ("change", "new_expected"),
    [({"scale": "0.5"}, 0.5 * 45.0), ({"helper": "2.0 * x"}, 90.0)],
    ids=["kernel source", "helper source"],
)
def test_changed_kernel_or_helper_is_a_new_run(tmp_path, ckdir, change, new_expected):
    values = {"helper": "x", "scale": "1.0"}
    path = tmp_path / "user_kernel.py"
    path.write_text(textwrap.dedent(MODULE.format(**values)))
    old = _load_module(path, "user_kernel_a")
    assert old.kernel(10) == 45.0
    old_dir = old.kernel.last_report.run_dir
    path.write_text(textwrap.dedent(MODULE.format(**{**values, **change})))
    new = _load_module(path, "user_kernel_b")
    assert new.kernel(10) == new_expected
    assert new.kernel.last_report.run_dir != old_dir
    assert new.kernel.last_report.resumed_from is None
    if "helper" in change:
        assert new.kernel.blocked_source != old.kernel.blocked_source  # new helper fingerprint


def test_second_process_on_the_same_run_gets_a_clear_error(ckdir):
    run_dir = pi.run_dir(5_000_000)
    run_dir.mkdir(parents=True)
    holder = spawn(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(run_dir / "lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointError, match="in use by another process"):
            pi(5_000_000)
    finally:
        holder.communicate("")
    assert pi(5_000_000) == pytest.approx(np.pi, abs=1e-12)  # free again


def test_write_npz_hashes_in_the_same_pass(tmp_path):
    """The digests returned by the streaming writer are each array's ``array_hash``, and
    numpy reads the file back: several write blocks, a view, empty and 0-d arrays."""
    from blockloop.storage.fingerprint import array_hash
    from blockloop.storage.npz import _WRITE_BLOCK, write_npz

    rng = np.random.default_rng(7)
    big = rng.random(3 * _WRITE_BLOCK // 8 + 5)
    arrays = {
        "big": big,
        "view": rng.integers(0, 9, (40, 30))[::3, 1::2],
        "empty": np.zeros((0, 4), np.float32),
        "scalar": np.array(2.5),
    }
    path = tmp_path / "x.npz"
    with open(path, "wb") as f:
        digests = write_npz(f, arrays)
    assert digests == {name: array_hash(a) for name, a in arrays.items()}
    with np.load(path, allow_pickle=False) as back:
        for name, a in arrays.items():
            assert np.array_equal(back[name], a) and back[name].dtype == a.dtype


def test_only_the_completion_of_a_run_without_checkpoints_skips_fsync(tmp_path, monkeypatch):
    """A run that ends before its first checkpoint records its completion without fsync
    (lost in a crash, it costs less than an interval); a run that checkpointed before
    completes durably."""
    from blockloop import checkpointed_loop
    from blockloop.storage import durable
    from blockloop.testing import Ticks, injected
    from tests.test_identity import weighted_total

    synced = []
    real = durable.os.fsync
    monkeypatch.setattr(durable.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    x = np.arange(1000.0)
    short = checkpointed_loop(checkpoint_dir=tmp_path / "short")(weighted_total)
    assert short(x, 2.0) == 2.0 * x.sum()
    assert short.last_report.checkpoints == 1 and synced == []
    short(x, 2.0)
    assert short.last_report.already_complete

    long = checkpointed_loop(checkpoint_dir=tmp_path / "long", interval=20.0)(weighted_total)
    with injected(long, clock=Ticks(1.0)):
        long(np.arange(100_000.0), 2.0)
    checkpoints = long.last_report.checkpoints
    assert checkpoints >= 2 and len(synced) == 3 * checkpoints  # npz, manifest, directory


@pytest.mark.parametrize(
    "dtype",
    [
        np.dtype("<f8"),
        np.dtype([("count", "<i8"), ("mean", "<f8"), ("low", "<f4")]),
        np.dtype([("xy", "<f4", (2,)), ("inner", [("a", "<i2"), ("b", "u1")])]),
    ],
)
def test_a_manifest_names_a_dtype_with_fields_in_full(dtype):
    text = dtype_text(dtype)
    assert dtype_of(text) == dtype
    assert text == dtype.str or "[" in text  # records keep their fields (not "|V20")
