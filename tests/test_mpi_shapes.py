"""Map loops and time loops across real MPI ranks (``mpiexec -n 1..4``): every rank returns
a single process's bits (reductions inside steps and convergence tests on them included),
each rank checkpoints the rows it computed, a stencil sends only its halo rows, and a job
stopped on N ranks resumes on M.

The kernels are in ``tests/mpi_shapes.py``; every rank prints what it returned.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from blockloop.storage.store import read_manifest
from tests.mpi_shapes import make
from tests.test_mpi import launch, needs_mpi, ranks_of

pytestmark = [pytest.mark.slow, pytest.mark.mpi]

MAPS = {"distances": 20_000, "standardise": 40_000, "smoothed": 2_000_000}
STEPS = {"diffuse": 2400, "relax": 600, "mirror": 20_000, "until": 200_000, "heun": 1200}
# a reduction in every step (kmeans: the example, its centres moved outside the loops)
REDUCING = {"residual": 4000, "rank_until": 1500, "binned": 50_000, "kmeans": 20_000}
PHASES = {"pipeline": 3000}
SIZES = {**MAPS, **STEPS, **REDUCING, **PHASES, "offgrid": 1000, "peek": 1000}
SHAPES = [*MAPS, *STEPS, *REDUCING, *PHASES]
SUMMED = {"smoothed", "pipeline", *REDUCING}  # a float reduction: blockloop's bits


def job(ranks: int, shapes: list[str], root: Path, *extra: str, **env: str) -> subprocess.Popen:
    """``mpiexec -n RANKS python -m tests.mpi_shapes SHAPES SIZES ROOT`` (one numba thread
    per rank); ``ranks == 0`` runs one process without a launcher."""
    sizes = ",".join(str(SIZES[s]) for s in shapes)
    cmd = [sys.executable, "-m", "tests.mpi_shapes", ",".join(shapes), sizes, str(root), *extra]
    return launch(cmd, ranks, **env)


def outputs(proc: subprocess.Popen, root: Path) -> tuple[int, dict[str, list[dict]], str]:
    """The job's exit code, what each rank returned for each shape (in rank order), and
    stderr."""
    _, err = proc.communicate(timeout=600)
    per_shape: dict[str, list[dict]] = {}
    found = sorted(root.glob("out-*.json"), key=lambda p: int(p.stem.rpartition("-")[2]))
    for p in found:
        per_shape.setdefault(p.stem[4:].rpartition("-")[0], []).append(json.loads(p.read_text()))
        p.unlink()
    return proc.returncode, per_shape, err


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict[str, dict]:
    """Each shape's bits from one process (no launcher), and from plain numba."""
    root = tmp_path_factory.mktemp("single")
    shapes = SHAPES
    code, blocked, err = outputs(job(0, shapes, root), root)
    assert code == 0, err
    code, plain, err = outputs(job(0, shapes, root, "--plain"), root)
    assert code == 0, err
    return {s: {"blocked": blocked[s][0], "plain": plain[s][0]} for s in shapes}


def run_dirs(root: Path, shape: str) -> list[Path]:
    """The run directories of ``shape`` (not the ``.continues`` records beside them)."""
    return [p for p in root.glob(f"{shape}-*") if p.is_dir()]


def rows_by_rank(run_dir: Path) -> dict[int, list[tuple[int, int]]]:
    """The newest manifest's map pieces: the flat ranges each rank's file holds."""
    manifest = read_manifest(sorted(run_dir.glob("ckpt-*.json"))[-1])
    found: dict[int, list[tuple[int, int]]] = {}
    for pieces in manifest["pieces"].values():
        for piece in pieces["pieces"]:
            rank = piece[7] if len(piece) == 8 else 0
            found.setdefault(rank, []).append((piece[0], piece[1]))
    return found


@needs_mpi
@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_every_rank_returns_a_single_process_bits(ranks, single, tmp_path):
    """Every shape in one launch (checkpoints every 0.02 s of compute)."""
    shapes = SHAPES
    code, found, err = outputs(job(ranks, shapes, tmp_path, BLOCKLOOP_INTERVAL="0.02"), tmp_path)
    assert code == 0, err
    for shape in shapes:
        per_rank = found[shape]
        assert [d["rank"] for d in per_rank] == list(range(ranks))
        reference = single[shape]["blocked"]
        for d in per_rank:
            assert d["hash"] == reference["hash"], (shape, d["rank"], err)
            assert d["inputs"] == reference["inputs"], shape  # arguments written in place
            assert d["report"]["ranks"] == ranks and d["report"]["complete"]
        if shape not in SUMMED:  # no reduction: plain numba's bits as well
            assert reference["hash"] == single[shape]["plain"]["hash"], shape
            assert reference["inputs"] == single[shape]["plain"]["inputs"], shape
        if ranks > 1 and shape in MAPS:
            (run_dir,) = run_dirs(tmp_path, shape)
            _each_rank_wrote_its_own_rows(run_dir, per_rank)


def _each_rank_wrote_its_own_rows(run_dir: Path, per_rank: list[dict]) -> None:
    """The pieces cover the output once, every rank's file holds a share of it, and the
    rows each rank's file holds are the bytes it says it wrote (rank 0 also its stacks)."""
    found = rows_by_rank(run_dir)
    ranges = sorted(r for rs in found.values() for r in rs)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # no overlap
    total = ranges[-1][1] - ranges[0][0]
    ranks = len(per_rank)
    assert sorted(found) == list(range(ranks)), found.keys()
    for rank, rs in found.items():
        share = sum(b - a for a, b in rs) / total
        assert share > 0.5 / ranks, (rank, share)  # each rank wrote its share, none all
    assert not list(run_dir.glob("*.tmp-*"))
    # the ranks' files of retired generations are gone unless a kept manifest reads them
    manifests = sorted(run_dir.glob("ckpt-*.json"))
    kept = {int(m.name[5:11]) for m in manifests}
    for m in manifests:
        kept |= {p[2] for ps in read_manifest(m)["pieces"].values() for p in ps["pieces"]}
    assert {int(f.name[5:11]) for f in run_dir.glob("ckpt-*.r*.npz")} <= kept


@needs_mpi
def test_a_rank_keeps_a_bounded_number_of_files_however_many_checkpoints(single, tmp_path):
    """Past ``MAX_PIECES`` files of one call (here 2), a rank writes all its rows of the
    call again into one file: the newest checkpoint reads at most 2 files of each rank
    while every rank still wrote only its own rows, and every rank returns one process's
    bits."""
    shape = "distances"
    proc = job(2, [shape], tmp_path, "--max-pieces=2", BLOCKLOOP_INTERVAL="0.001")
    code, found, err = outputs(proc, tmp_path)
    assert code == 0, err
    per_rank = found[shape]
    assert all(d["hash"] == single[shape]["blocked"]["hash"] for d in per_rank), err
    checkpoints = per_rank[0]["report"]["checkpoints"]
    assert checkpoints > 4, checkpoints  # the rows were written again at least once
    (run_dir,) = run_dirs(tmp_path, shape)
    _each_rank_wrote_its_own_rows(run_dir, per_rank)
    manifest = read_manifest(sorted(run_dir.glob("ckpt-*.json"))[-1])
    files: dict[int, set[int]] = {}
    for pieces in manifest["pieces"].values():
        for piece in pieces["pieces"]:
            files.setdefault(piece[7] if len(piece) == 8 else 0, set()).add(piece[2])
    assert sorted(files) == [0, 1]
    assert all(len(generations) <= 2 for generations in files.values()), files
    on_disk = {f.name for f in run_dir.glob("ckpt-*.r1.npz")}
    assert len(on_disk) <= 2 * len(list(run_dir.glob("ckpt-*.json"))), on_disk


def stopped_rank0(marker: str, ranks: int, proc: subprocess.Popen) -> dict[int, int]:
    """The job's ranks (rank -> pid), once rank 0 has stopped itself (SIGSTOP) at its
    fault point; fails if the job ends first."""
    while proc.poll() is None:
        pids = ranks_of(marker)
        if len(pids) == ranks:
            stat = Path(f"/proc/{pids[0]}/stat").read_text()
            if stat.rpartition(")")[2].split()[0] == "T":
                return pids
        time.sleep(0.02)  # a state to poll: a grandchild's stop cannot be waited for
    raise AssertionError(f"the job ended before rank 0 stopped: {proc.communicate()}")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_a_stencil_sends_only_its_halo_rows(ranks, tmp_path):
    """``diffuse`` reads ``u[i - 1, j]`` and ``u[i + 1, j]``: after each step rank 0 sends
    one row to rank 1 and nothing else; at the end, its block of both buffers to each
    other rank. Counted in bytes, against the state it would send whole."""
    n = STEPS["diffuse"]
    u, _source, steps, _rate = make("diffuse", n)
    width = u.shape[1]
    code, found, err = outputs(job(ranks, ["diffuse"], tmp_path), tmp_path)
    assert code == 0, err
    per_rank = found["diffuse"]
    row = width * 8
    block = (n // ranks) * row
    assert per_rank[0]["report"]["bytes_sent"] == steps * row + 2 * block * (ranks - 1)
    assert steps * row < 0.01 * steps * n * row  # the halo, not the state, every step


@needs_mpi
@pytest.mark.parametrize(
    ("shape", "why"),
    [
        ("offgrid", "the tiles of its prange reductions do not line up"),
        ("peek", "`v` is used outside the step's prange loops"),
    ],
)
def test_steps_that_cannot_be_split_are_refused_with_the_reason(shape, why, tmp_path):
    """``offgrid``'s two reductions tile rows from 1 and from 0, so no cut between two ranks
    keeps every tile of both whole; ``peek`` reads outside its prange loops a row that one
    rank holds. Each is refused before its first step."""
    code, found, err = outputs(job(2, [shape], tmp_path), tmp_path)
    assert code != 0 and not found
    assert why in err, err
    assert "run it on one rank" in err and "mpi_shapes.py" in err
    assert not list(tmp_path.glob("*/ckpt-*.json"))


@needs_mpi
@pytest.mark.parametrize(
    ("shape", "first", "then"),
    [
        ("distances", 2, 3),
        ("standardise", 3, 1),
        ("diffuse", 2, 3),
        ("until", 3, 1),
        ("rank_until", 2, 3),
    ],
)
def test_stopped_on_some_ranks_resumes_on_others(shape, first, then, single, tmp_path):
    """SIGTERM to the last rank while rank 0 is stopped in its second checkpoint (the
    other ranks wait for it): every rank stops after one more, exit 85; the next launch,
    on another number of ranks, gives the bits."""
    marker, root = uuid.uuid4().hex, tmp_path / "run"
    proc = job(
        first,
        [shape],
        root,
        BLOCKLOOP_INTERVAL="0.02",
        BLOCKLOOP_FAULT="stop:dir-synced@2",
        BLOCKLOOP_TEST_JOB=marker,
    )
    pids = stopped_rank0(marker, first, proc)
    os.kill(pids[first - 1], signal.SIGTERM)
    os.kill(pids[0], signal.SIGCONT)
    code, found, err = outputs(proc, root)
    assert code == 85, err
    per_rank = found[shape]
    assert {d.get("exit") for d in per_rank} == {85}
    (run_dir,) = run_dirs(root, shape)
    manifest = read_manifest(sorted(run_dir.glob("ckpt-*.json"))[-1])
    assert manifest["reason"] == "signal SIGTERM"
    done = manifest.get("next_tile", manifest.get("next_step"))
    assert 0 < done < manifest.get("tiles_total", manifest.get("steps_total", 1 << 62))
    code, found, err = outputs(job(then, [shape], root), root)
    assert code == 0, err
    per_rank = found[shape]
    for d in per_rank:
        assert d["report"]["resumed_from"] == done
        assert d["hash"] == single[shape]["blocked"]["hash"]
        assert d["inputs"] == single[shape]["blocked"]["inputs"]


@needs_mpi
def test_a_kernel_of_several_loops_stopped_resumes_on_other_ranks(single, tmp_path):
    """Each phase spreads as its loop would (map, time steps, reduction); stopped by
    SIGTERM on 2 ranks, the run resumes on 3 in the phase it stopped in, with the bits."""
    marker, root = uuid.uuid4().hex, tmp_path / "run"
    env = {"BLOCKLOOP_INTERVAL": "0.02", "BLOCKLOOP_TEST_JOB": marker}
    proc = job(2, ["pipeline"], root, BLOCKLOOP_FAULT="stop:dir-synced@3", **env)
    pids = stopped_rank0(marker, 2, proc)
    os.kill(pids[1], signal.SIGTERM)
    os.kill(pids[0], signal.SIGCONT)
    code, found, err = outputs(proc, root)
    assert code == 85, err
    assert {d.get("exit") for d in found["pipeline"]} == {85}
    (run_dir,) = run_dirs(root, "pipeline")
    newest = max(run_dir.glob("phase-*/ckpt-*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert read_manifest(newest)["reason"] == "signal SIGTERM"
    code, found, err = outputs(job(3, ["pipeline"], root), root)
    assert code == 0, err
    for d in found["pipeline"]:
        assert d["report"]["ranks"] == 3 and d["report"]["phase"] == 3
        assert d["hash"] == single["pipeline"]["blocked"]["hash"]
        assert d["inputs"] == single["pipeline"]["blocked"]["inputs"]


@needs_mpi
@pytest.mark.parametrize("shape", ["distances", "diffuse"])
def test_a_rank_that_dies_mid_commit_ends_the_job_and_the_last_whole_checkpoint_resumes(
    shape, single, tmp_path
):
    """Rank 0 stopped with its second manifest written but not yet renamed (every rank's
    rows of that checkpoint on disk), rank 1 killed with SIGKILL: MPI ends the job, the
    second checkpoint was never committed, and the next launch, on 3 ranks, resumes from the
    first with the bits."""
    marker, root = uuid.uuid4().hex, tmp_path / "run"
    env = {"BLOCKLOOP_INTERVAL": "0.02", "BLOCKLOOP_TEST_JOB": marker}
    proc = job(2, [shape], root, BLOCKLOOP_FAULT="stop:json-written@2", **env)
    pids = stopped_rank0(marker, 2, proc)
    os.kill(pids[1], signal.SIGKILL)
    code, found, err = outputs(proc, root)
    assert code != 0 and not found, err  # no rank returned
    (run_dir,) = run_dirs(root, shape)
    (manifest,) = sorted(run_dir.glob("ckpt-*.json"))  # the first only: the second never was
    first = read_manifest(manifest)
    done = first.get("next_tile", first.get("next_step"))
    assert done > 0
    code, found, err = outputs(job(3, [shape], root), root)
    assert code == 0, err
    for d in found[shape]:
        assert d["report"]["resumed_from"] == done and d["report"]["ranks"] == 3
        assert d["hash"] == single[shape]["blocked"]["hash"]
        assert d["inputs"] == single[shape]["blocked"]["inputs"]


@needs_mpi
def test_gather_root_gives_rank_0_the_whole_output_and_own_sends_nothing(single, tmp_path):
    """``gather="root"``: rank 0 returns one process's bits and sends no rows at the end,
    the others send it theirs and keep them; ``gather="own"``: no rank sends a row at the
    end (the stencil only its halo rows, step by step)."""
    shapes = ["distances", "diffuse"]
    code, found, err = outputs(job(3, shapes, tmp_path, "--gather=root"), tmp_path)
    assert code == 0, err
    for shape in shapes:
        first, *others = found[shape]
        assert first["hash"] == single[shape]["blocked"]["hash"], shape
        assert all(d["hash"] != first["hash"] for d in others), shape
    assert found["distances"][0]["report"]["bytes_sent"] == 0
    root = tmp_path / "own"  # a run of its own, not the completed one above
    code, found, err = outputs(job(3, shapes, root, "--gather=own"), root)
    assert code == 0, err
    assert [d["report"]["bytes_sent"] for d in found["distances"]] == [0, 0, 0]
    u = make("diffuse", STEPS["diffuse"])[0]
    halo = u.shape[1] * u.itemsize * make("diffuse", STEPS["diffuse"])[2]  # a row a step
    assert [d["report"]["bytes_sent"] for d in found["diffuse"]] == [halo, 2 * halo, halo]
