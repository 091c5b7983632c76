"""Shared fixtures: one compile cache for the whole session, subprocess helpers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from blockloop.tools.selftest import finish, kill_stopped, wait_stopped

__all__ = ["child_env", "finish", "kill_stopped", "spawn", "start_kernel", "wait_stopped"]

ROOT = Path(__file__).resolve().parent.parent


class SlurmDaemons:
    """The single-node Slurm of ``tests/slurm``: ``up.sh`` is started once, in the background
    (installing the Debian packages takes a minute or more, mostly network and disk, so it
    runs beside the other tests), and ``down.sh`` stops exactly the daemons it started."""

    here = ROOT / "tests" / "slurm"

    def __init__(self) -> None:
        self.out, self.err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [str(self.here / "up.sh")], stdout=self.out, stderr=self.err, text=True
        )
        self.stopped = False

    def pids(self) -> list[str]:
        """Wait for the setup to finish; the daemons' PIDs (fails with up.sh's stderr)."""
        self.proc.wait(timeout=600)
        self.out.seek(0)
        self.err.seek(0)
        assert self.proc.returncode == 0, self.err.read()
        return self.out.read().split()

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            pids = self.pids() if self.proc.wait(timeout=600) == 0 else []
            subprocess.run([str(self.here / "down.sh"), *pids], timeout=120, check=False)
            self.out.close()
            self.err.close()


_slurm: list[SlurmDaemons] = []


def slurm_daemons() -> SlurmDaemons:
    """The session's Slurm daemons, starting their setup if it has not begun."""
    if not _slurm:
        _slurm.append(SlurmDaemons())
    return _slurm[0]


def pytest_collection_finish(session: pytest.Session) -> None:
    """When the Slurm tests are selected (and can run), begin their setup at once."""
    if any(item.nodeid.startswith("tests/test_slurm.py") for item in session.items):
        from tests.test_slurm import POSSIBLE

        if POSSIBLE:
            slurm_daemons()


_spawned: list[subprocess.Popen] = []


def spawn(args: list[str], **kwargs: object) -> subprocess.Popen:
    """``subprocess.Popen`` in a process group of its own, killed (with everything it
    started: MPI ranks, a kernel's children) when the test that started it ends, or when
    pytest stops, also after Ctrl-C."""
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)  # type: ignore[call-overload]
    _spawned.append(proc)
    return proc


def _reap(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader's exit
        if proc.poll() is None:
            proc.wait()


@pytest.fixture(autouse=True)
def _reap_spawned():
    """Kill what a test spawned and left running (a failed assertion, a timeout)."""
    before = len(_spawned)
    yield
    _reap(_spawned[before:])
    del _spawned[before:]


def pytest_sessionfinish(session: pytest.Session) -> None:
    _reap(_spawned)  # those of module-scoped fixtures, and after Ctrl-C
    if _slurm:
        _slurm[0].stop()


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory):
    """Generated modules and numba's cache go to one directory for the whole session,
    shared with every subprocess, so each kernel is compiled once."""
    cache = os.environ.get("BLOCKLOOP_TEST_CACHE") or str(tmp_path_factory.mktemp("cache"))
    old = os.environ.get("BLOCKLOOP_CACHE_DIR")
    os.environ["BLOCKLOOP_CACHE_DIR"] = cache
    os.environ.setdefault("BLOCKLOOP_PROGRESS", "0")
    yield cache
    if old is None:
        os.environ.pop("BLOCKLOOP_CACHE_DIR", None)
    else:
        os.environ["BLOCKLOOP_CACHE_DIR"] = old


@pytest.fixture
def ckdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh checkpoint root, also set as BLOCKLOOP_DIR."""
    root = tmp_path / "ckpt"
    monkeypatch.setenv("BLOCKLOOP_DIR", str(root))
    return root


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def start_kernel(name: str, *args: str, **env: str) -> subprocess.Popen:
    """Start ``python -m kernels.NAME --json ARGS`` in the repository root."""
    return spawn(
        [sys.executable, "-m", name if "." in name else f"kernels.{name}", "--json", *args],
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
