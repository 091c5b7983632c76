"""Ctrl-C while numba compiles a kernel for the first time (cold cache).

A KeyboardInterrupt raised inside numba's compiler is lost (numba 0.59 prints "Exception
ignored on calling ctypes callback function") or leaves a dispatcher that fails every later
call (numba 0.68: "no compiled object yet"). blockloop's handlers cover the whole call, so a
signal received while compiling is honoured once compiling ends: the call raises
KeyboardInterrupt saying nothing was saved, and the next call, in the same process or a new
one on the cache the interrupted one left, computes the right bits.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, child_env, finish, spawn

pytestmark = pytest.mark.slow  # seven processes, each compiling on a cold cache

N = 300_000


def _child(k: int, tmp_path, tag: str, *, again: bool = True) -> dict:
    """``tests/compile_interrupt.py`` with SIGINT at compiler pass ``k``, its own cold
    cache and checkpoint root under ``tmp_path / tag``."""
    proc = spawn(
        [sys.executable, "-m", "tests.compile_interrupt", str(k), str(N), str(int(again))],
        cwd=ROOT,
        env=child_env(
            BLOCKLOOP_CACHE_DIR=str(tmp_path / tag / "cache"),
            BLOCKLOOP_DIR=str(tmp_path / tag / "ckpt"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    code, data, err = finish(proc)
    assert code == 0 and data is not None, err
    return data


def test_sigint_at_any_compiler_pass_is_honoured_after_compiling(tmp_path):
    base = _child(0, tmp_path, "plain")
    assert base["first"] == base["second"]
    passes = base["passes"]
    assert passes >= 30, base  # a cold compile of the prologue, chunk and epilogue
    moments = sorted({1, passes // 2, passes})
    for k in moments:
        got = _child(k, tmp_path, f"at-{k}")
        assert got["first"] == "KeyboardInterrupt", (k, got)
        assert "weighted_norm" in got["message"], got
        if k < passes:  # the loop had not begun: nothing to save
            assert "nothing was saved" in got["message"], got
            assert got["resumed_from"] is None, got
        else:  # the epilogue compiles after the loop: the run is complete and saved
            assert "complete, saved in" in got["message"], got
        assert got["second"] == base["first"], (k, got)


def test_the_cache_an_interrupted_compile_leaves_serves_the_next_process(tmp_path):
    base = _child(0, tmp_path, "plain", again=False)
    k = base["passes"] // 3
    cut = _child(k, tmp_path, "cut", again=False)
    assert cut["first"] == "KeyboardInterrupt" and cut["passes"] > k, cut
    after = _child(0, tmp_path, "cut", again=False)
    assert after["first"] == base["first"], after
