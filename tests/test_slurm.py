"""A real single-node Slurm (Debian packages, munge), started and stopped by these tests.

Four jobs run side by side, one numba thread each, all on the same pi problem sized to
need more than twice the one-minute limit:

- ``requeue``: ``--time=1`` with the generated script: signal, checkpoint, requeue, until done;
- ``array``: ``--array=1-4%1`` (``--time=3``): the tasks continue one another, the ones after
  completion return the recorded result at once;
- ``deadline``: ``--time=1`` and no ``--signal``: deadline awareness alone (the job's end from
  squeue) saves the progress before the kill;
- ``reference``: the same problem, uninterrupted, for the bits.

Needs root (the daemons, /etc/slurm); under ``CI=true`` a machine that cannot run them is
a failure, elsewhere the tests are skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blockloop.scheduling.jobscript import slurm_script
from blockloop.storage.store import read_manifest
from tests.conftest import ROOT, slurm_daemons, spawn

HERE = Path(__file__).resolve().parent / "slurm"
CI = os.environ.get("CI") == "true"
POSSIBLE = os.geteuid() == 0 and (shutil.which("apt-get") or shutil.which("slurmctld"))
if CI and not POSSIBLE:
    raise RuntimeError("CI needs a real Slurm: run the tests as root on Debian")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.slurm,
    pytest.mark.skipif(not POSSIBLE, reason="a real Slurm needs root on Debian"),
]

COMPUTE = 125.0  # seconds of one-thread compute the problem needs: more than 2 x 60 s


@pytest.fixture(scope="module")
def slurm():
    """munge, slurmctld and slurmd (their setup usually begins at collection, beside the
    other tests); stopped again after this module."""
    daemons = slurm_daemons()
    daemons.pids()
    yield
    daemons.stop()


def _pi_size(root: Path) -> int:
    """``n`` for COMPUTE seconds of pi on one thread, measured on this machine now."""
    out = subprocess.run(
        [sys.executable, "-m", "kernels.pi", "--json", "--n", "2e9", "--checkpoint-dir", str(root)],
        cwd=ROOT,
        env=dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = json.loads(out.stdout.strip().splitlines()[-1])["report"]["compute_time"]
    return int(COMPUTE * 2e9 / seconds)


def _submit(script: str, where: Path) -> subprocess.Popen:
    path = where / "job.sh"
    path.write_text(script)
    return spawn(
        ["sbatch", "--wait", "--parsable", str(path)],
        cwd=where,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def jobs(slurm, tmp_path_factory):
    """Submit the four jobs at once; each test waits for its own."""
    base = tmp_path_factory.mktemp("slurm")
    n = _pi_size(base / "calibration")
    payload = [sys.executable, "-m", "kernels.pi", "--json", "--n", str(n)]
    env = [f"--export=ALL,PYTHONPATH={ROOT},BLOCKLOOP_PROGRESS=0", "--cpus-per-task=1"]
    out = {}
    for name, time_limit, kwargs in (
        ("requeue", "1", {}),
        ("array", "3", {"array": 4}),
        ("reference", "30", {}),
    ):
        where = base / name
        where.mkdir()
        script = slurm_script(
            [*payload, "--checkpoint-dir", str(where / "ckpt")],
            time_limit,
            job_name=f"bl-{name}",
            output=str(where / "out.txt"),
            sbatch_options=env,
            **kwargs,
        )
        out[name] = (where, _submit(script, where))
    where = base / "deadline"
    where.mkdir()
    script = "\n".join(
        [
            "#!/bin/bash",
            "#SBATCH --time=1",
            f"#SBATCH --output={where / 'out.txt'}",
            f"#SBATCH {env[0]}",
            f"#SBATCH {env[1]}",
            "export NUMBA_NUM_THREADS=1",
            'echo "end $(squeue -h -j $SLURM_JOB_ID -o %e)"',
            f"exec {' '.join(payload)} --checkpoint-dir {where / 'ckpt'}",
            "",
        ]
    )
    out["deadline"] = (where, _submit(script, where))
    return out


def _wait(job) -> tuple[Path, str]:
    where, proc = job
    proc.communicate(timeout=1500)
    return where, (where / "out.txt").read_text()


def _result(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    assert lines, text
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def reference(jobs) -> dict:
    _where, text = _wait(jobs["reference"])
    data = _result(text)
    assert data["report"]["resumed_from"] is None
    return data


def test_requeued_job_continues_until_done_with_the_same_bits(jobs, reference):
    where, text = _wait(jobs["requeue"])
    restarts = [int(m) for m in re.findall(r"restart (\d+) on", text)]
    assert restarts[:3] == [0, 1, 2], text  # at least two requeues, each shown in the output
    assert text.count("requeueing job") == len(restarts) - 1
    data = _result(text)
    assert data["report"]["resumed_from"] > 0
    total = read_manifest(sorted((where / "ckpt").glob("*/ckpt-*.json"))[-1])["compute_seconds"]
    assert total > 2 * 60 * 0.8  # the problem needed more than about twice the limit
    assert data["hash"] == reference["hash"]


def test_array_tasks_continue_one_another(jobs, reference):
    _where, text = _wait(jobs["array"])
    tasks = re.findall(r"task (\d+) restart", text)
    assert tasks == ["1", "2", "3", "4"], text
    results = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert results, text
    assert results[0]["hash"] == reference["hash"]
    assert all(r["hash"] == reference["hash"] for r in results)
    finished_early = [r for r in results if r["report"]["already_complete"]]
    assert finished_early  # the tasks after completion returned the recorded result
    assert text.count("the next array task continues") >= 1


def test_deadline_alone_saves_progress_before_the_kill(jobs):
    where, text = _wait(jobs["deadline"])
    end = re.search(r"^end (\S+)", text, re.M)
    assert end, text
    end_time = dt.datetime.fromisoformat(end.group(1)).timestamp()
    manifest = read_manifest(sorted((where / "ckpt").glob("*/ckpt-*.json"))[-1])
    assert manifest["reason"] == "deadline", text
    assert end_time - 30 < manifest["written"] < end_time  # shortly before the limit
    assert "the deadline is near" in text
