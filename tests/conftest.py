"""Shared fixtures: one compile cache for the whole session, subprocess helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from blockloop.selftest import finish, kill_stopped, wait_stopped

__all__ = ["child_env", "finish", "kill_stopped", "start_kernel", "wait_stopped"]

ROOT = Path(__file__).resolve().parent.parent


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
    return subprocess.Popen(
        [sys.executable, "-m", name if "." in name else f"kernels.{name}", "--json", *args],
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
