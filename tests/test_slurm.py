"""A real single-node Slurm (Debian packages, munge), started and stopped by these tests.

Four jobs run side by side, one numba thread each, all on the same pi problem sized to
need more than twice the one-minute limit (COMPUTE seconds of CPU time). They are
submitted as soon as the daemons are up, early in the session, and run beside the other
tests:

- ``requeue``: ``--time=1`` with the generated script: signal, checkpoint, requeue, until done;
- ``array``: ``--array=1-6%1`` (``--time=3``): the tasks continue one another, the ones after
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
from tests.conftest import ROOT, slurm_daemons

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
ARRAY = 6  # array tasks: enough for the jobs to share two cores with the other tests


@pytest.fixture(scope="module")
def slurm():
    """munge, slurmctld and slurmd (their setup usually begins at collection, beside the
    other tests); stopped again after this module."""
    daemons = slurm_daemons()
    daemons.pids()
    yield
    daemons.stop()


def _cpu_seconds(n: float, root: Path) -> float:
    """CPU seconds of a whole one-thread ``kernels.pi`` process for ``n`` (startup too):
    CPU time, not wall time, so that the other tests running beside it do not count."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernels.pi",
            "--json",
            "--n",
            str(n),
            "--checkpoint-dir",
            str(root),
        ],
        cwd=ROOT,
        env=dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"kernels.pi --n {n} exited with {proc.returncode}"
    return usage.ru_utime + usage.ru_stime


def _pi_size(root: Path) -> int:
    """``n`` for COMPUTE seconds of pi on one thread: the CPU time of 2e9 iterations less
    that of 2e8 (the startup cancels out), both after a first run that compiles."""
    _cpu_seconds(2e8, root / "compile")  # a cold cache: numba's compile is not the kernel
    short = _cpu_seconds(2e8, root / "short")
    seconds = _cpu_seconds(2e9, root / "long") - short
    assert seconds > 0.5, f"1.8e9 iterations of pi took {seconds:.2f} s of CPU time"
    return int(COMPUTE * 1.8e9 / seconds)


def _submit(script: str, where: Path) -> subprocess.Popen:
    """``sbatch --wait`` of ``script`` (not :func:`spawn`: it is submitted beside other
    tests, whose own processes are killed when they end; conftest stops it)."""
    path = where / "job.sh"
    path.write_text(script)
    return subprocess.Popen(
        ["sbatch", "--wait", "--parsable", str(path)],
        cwd=where,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def submit_jobs(base: Path) -> dict[str, tuple[Path, subprocess.Popen]]:
    """Submit the four jobs at once (see the module); conftest calls this as soon as the
    daemons are up, so that the jobs run beside the other tests."""
    n = _pi_size(base / "calibration")
    payload = [sys.executable, "-m", "kernels.pi", "--json", "--n", str(n)]
    env = [f"--export=ALL,PYTHONPATH={ROOT},BLOCKLOOP_PROGRESS=0", "--cpus-per-task=1"]
    out = {}
    for name, time_limit, kwargs in (
        ("requeue", "1", {}),
        ("array", "3", {"array": ARRAY}),
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
            "#SBATCH --job-name=bl-deadline",
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


@pytest.fixture(scope="module")
def jobs(slurm, tmp_path_factory):
    """The four jobs, submitted when the daemons came up (or now, if that did not happen
    at collection); each test waits for its own."""
    submitted = slurm_daemons().then_result()
    return submitted if submitted is not None else submit_jobs(tmp_path_factory.mktemp("slurm"))


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
    assert tasks == [str(k) for k in range(1, ARRAY + 1)], text
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
