"""Real MPI (mpich from PyPI, ``mpiexec -n 1..4`` on this machine): the same bits on any
number of ranks, whole-job kills resumed on another rank count, a signal to one rank.

Every job gets a marker in its environment so that the test can find its ranks in /proc
(hydra starts each rank in a session of its own) and kill or signal them itself.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from blockloop.storage.store import read_manifest
from blockloop.tools.selftest import finish
from tests.conftest import ROOT, child_env, spawn, start_kernel

pytestmark = [pytest.mark.slow, pytest.mark.mpi]

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401

    HAVE_MPI = MPIEXEC is not None
except ImportError:
    HAVE_MPI = False

if not HAVE_MPI and os.environ.get("CI") == "true":
    raise RuntimeError('CI needs MPI: pip install -e ".[test,mpi]" brings mpi4py and mpich')
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason='needs pip install -e ".[mpi]"')

SIZES = {"pi": 40_000_000, "histogram": 600_000, "monte_carlo_pi": 2_000_000}


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("done", [0, 1, 12, 1000, 4097])
def test_segments_are_aligned_and_reach_the_wanted_length(done, ranks):
    """Pure planning (no MPI needed, runs everywhere)."""
    from blockloop.parallel.mpi import plan_segments

    total, want, rounds = 10**6, 64, 0
    while done < total:
        segments = plan_segments(done, total, want, ranks)
        pos = done
        for start, count in segments:
            assert start == pos
            if count:
                assert count & (count - 1) == 0 and start % count == 0
            pos += count
        assert pos > done
        done, rounds = pos, rounds + 1
        if rounds > 10 and pos < total - want * ranks:
            assert all(c == want for _, c in segments)  # aligned after a few rounds
    assert done == total


def mpi_kernel(ranks: int, name: str, *args: str, **env: str) -> subprocess.Popen:
    """``mpiexec -n RANKS python -m kernels.NAME --json ARGS`` (one numba thread per rank)."""
    return launch([sys.executable, "-m", f"kernels.{name}", "--json", *args], ranks, **env)


def launch(cmd: list[str], ranks: int, **env: str) -> subprocess.Popen:
    """``cmd`` under ``mpiexec -n RANKS`` (alone for ``ranks == 0``), one numba thread per
    rank, its output piped."""
    if ranks > 0:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    return spawn(
        cmd,
        cwd=ROOT,
        env=child_env(NUMBA_NUM_THREADS="1", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ranks_of(marker: str) -> dict[int, int]:
    """PMI rank -> pid of the processes started with ``BLOCKLOOP_TEST_JOB=marker``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"BLOCKLOOP_TEST_JOB={marker}".encode() in environ:
            for item in environ:
                if item.startswith(b"PMI_RANK="):
                    found[int(item[9:])] = int(entry)
    return found


def wait_lock_free(root: Path) -> None:
    """Block until no process holds any run lock under ``root`` (the killed rank 0 is gone)."""
    for lock in root.glob("*/lock"):
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks while the old rank 0 holds it
        finally:
            os.close(fd)


@pytest.fixture(scope="module")
def single_process(tmp_path_factory) -> dict[str, str]:
    """Each kernel's bits from a plain single-process run (no MPI launcher at all)."""
    root = tmp_path_factory.mktemp("single")
    out = {}
    for name, n in SIZES.items():
        code, data, err = finish(mpi_kernel(0, name, "--n", str(n), "--checkpoint-dir", str(root)))
        assert code == 0, err
        assert data["report"]["ranks"] == 1
        out[name] = data["hash"]
    return out


@needs_mpi
@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("name", list(SIZES))
def test_same_bits_on_any_number_of_ranks(name, ranks, single_process, tmp_path):
    code, data, err = finish(
        mpi_kernel(ranks, name, "--n", str(SIZES[name]), "--checkpoint-dir", str(tmp_path))
    )
    assert code == 0, err
    assert data["report"]["ranks"] == ranks and data["report"]["complete"]
    assert data["hash"] == single_process[name]
    assert (data["report"]["bytes_sent"] > 0) == (ranks > 1)  # partials or rows, counted


@needs_mpi
def test_exact_sums_have_the_same_bits_on_any_ranks_and_threads(tmp_path):
    """``BLOCKLOOP_EXACT=1``: each bin of the histogram is rounded once from the exact sum,
    so one process on 3 threads and 2 or 3 ranks agree, and the run records that its
    accumulator is exact."""
    name = "histogram"
    n = str(SIZES[name] // 2)
    runs = {
        "3 threads": start_kernel(
            name,
            "--n",
            n,
            "--checkpoint-dir",
            str(tmp_path / "t3"),
            NUMBA_NUM_THREADS="3",
            BLOCKLOOP_EXACT="1",
        )
    }
    for ranks in (2, 3):
        root = str(tmp_path / f"r{ranks}")
        runs[f"{ranks} ranks"] = mpi_kernel(
            ranks, name, "--n", n, "--checkpoint-dir", root, BLOCKLOOP_EXACT="1"
        )
    hashes = {}
    for what, proc in runs.items():
        code, data, err = finish(proc)
        assert code == 0, err
        hashes[what] = data["hash"]
    assert len(set(hashes.values())) == 1, hashes
    (manifest,) = sorted((tmp_path / "t3").glob("*/ckpt-*.json"))[-1:]
    assert read_manifest(manifest)["identity"]["exact"]


@needs_mpi
def test_a_loop_that_writes_anywhere_is_refused_on_several_ranks(tmp_path):
    """``out[perm[i]] = v`` may land anywhere: each rank would change other elements, so
    the job stops with the reason before any checkpoint instead of saving a partial
    output (map loops, whose iteration ``i`` writes row ``i``, are spread: see
    ``test_mpi_shapes.py``)."""
    code, _, err = finish(
        mpi_kernel(2, "scatter", "--n", "100000", "--checkpoint-dir", str(tmp_path))
    )
    assert code != 0
    assert "BlockingError" in err and "run this kernel on one rank" in err, err
    assert "scatter.py" in err
    assert not list(tmp_path.glob("*/ckpt-*.json"))


def _checkpointed_job(ranks: int, root: Path, fifo: Path, marker: str, n: int):
    """Start a pi job that checkpoints every 0.05 s; return it once it has written one."""
    proc = mpi_kernel(
        ranks,
        "pi",
        *("--n", str(n), "--checkpoint-dir", str(root), "--interval", "0.05"),
        BLOCKLOOP_FAULT="notify:dir-synced@1",
        BLOCKLOOP_FAULT_NOTIFY=str(fifo),
        BLOCKLOOP_TEST_JOB=marker,
    )
    with open(fifo) as f:  # blocks until rank 0 has committed its first checkpoint
        line = f.readline()
    assert line.split()[1] == "dir-synced", (line, finish(proc))
    return proc


@needs_mpi
def test_whole_job_killed_and_resumed_on_other_rank_counts(tmp_path, tmp_path_factory):
    n = 2 * 10**9
    code, data, err = finish(
        mpi_kernel(0, "pi", "--n", str(n), "--checkpoint-dir", str(tmp_path / "ref"))
    )
    assert code == 0, err
    expected = data["hash"]
    root, fifo = tmp_path / "run", tmp_path / "fifo"
    os.mkfifo(fifo)
    rng = random.Random(4)
    counts = [1, 4, 2, 3, 4, 1]  # each resume on another number of ranks
    for ranks in counts[:-1]:
        marker = uuid.uuid4().hex
        proc = _checkpointed_job(ranks, root, fifo, marker, n)
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.4))
            raise AssertionError(f"the job finished before the kill: {finish(proc)}")
        except subprocess.TimeoutExpired:
            pass
        pids = ranks_of(marker)
        assert len(pids) == ranks
        proc.kill()  # SIGKILL the launcher, then every rank: the whole job is lost
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.communicate()
        wait_lock_free(root)
    code, data, err = finish(
        mpi_kernel(counts[-1], "pi", "--n", str(n), "--checkpoint-dir", str(root))
    )
    assert code == 0, err
    assert data["report"]["resumed_from"] > 0
    assert data["hash"] == expected


@needs_mpi
def test_sigterm_to_one_rank_stops_every_rank_at_one_checkpoint(tmp_path):
    n = 2 * 10**9
    root, fifo, marker = tmp_path / "run", tmp_path / "fifo", uuid.uuid4().hex
    os.mkfifo(fifo)
    proc = _checkpointed_job(3, root, fifo, marker, n)
    pids = ranks_of(marker)
    os.kill(pids[2], signal.SIGTERM)  # one rank only, not rank 0
    code, _, err = finish(proc)
    assert code == 85, err
    assert err.count("SIGTERM received") == 1  # rank 0 reports for the job
    manifests = sorted(root.glob("*/ckpt-*.json"))
    assert read_manifest(manifests[-1])["reason"] == "signal SIGTERM"  # one forced checkpoint
    code, data, err = finish(mpi_kernel(2, "pi", "--n", str(n), "--checkpoint-dir", str(root)))
    assert code == 0, err
    report = data["report"]
    assert report["resumed_from"] > 0
    code, ref, err = finish(mpi_kernel(0, "pi", "--n", str(n), "--checkpoint-dir", str(tmp_path)))
    assert data["hash"] == ref["hash"]
