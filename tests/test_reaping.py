"""Stopping pytest with Ctrl-C leaves no subprocess behind: every child a test spawns has a
process group of its own, which pytest kills when the test or the session ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import ROOT, child_env


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_on_pytest_kills_the_children_its_tests_spawned(tmp_path):
    fifo = tmp_path / "pids"
    os.mkfifo(fifo)
    inner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/fixtures/ctrl_c_case.py",
        ],
        cwd=ROOT,
        env=child_env(REAPING_FIFO=str(fifo)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with open(fifo) as f:  # blocks until the inner test has spawned its child
            pid = int(f.readline())
        assert _alive(pid)
        inner.send_signal(signal.SIGINT)
        out, _ = inner.communicate(timeout=120)
    finally:
        if inner.poll() is None:
            inner.kill()
    assert "KeyboardInterrupt" in out, out
    assert not _alive(pid), f"child {pid} outlived pytest"
