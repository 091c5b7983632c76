"""Module globals are read when numba would read them, at the first call (issue 27, item 1).

Each process sets the globals after the kernel is decorated; processes share the compile
cache and the checkpoint root, so a module compiled or a run recorded with other global
values would give the first process's answer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests import globals_kernel
from tests.conftest import ROOT, child_env


def _python(*args: str) -> str:
    """The output of ``python ARGS`` in the repository root."""
    out = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return out.stdout


def _run(ckpt, value: float, scale: float) -> dict:
    out = _python("-m", "tests.globals_kernel", str(ckpt), str(value), str(scale))
    return json.loads(out.splitlines()[-1])


@pytest.mark.slow
def test_globals_set_in_main_are_read_at_the_first_call(tmp_path):
    seen = {}
    for value, scale in [(1.0, 1.0), (3.0, 1.0), (3.0, 2.0), (1.0, 1.0)]:
        got = _run(tmp_path, value, scale)
        assert got["result"] == globals_kernel.expected(300_000, value, scale), (value, scale)
        seen.setdefault((value, scale), set()).add(got["run_dir"])
    # other global values are other runs; the same values find the same run again
    assert len({d for dirs in seen.values() for d in dirs}) == 3
    assert len(seen[(1.0, 1.0)]) == 1


def test_the_same_globals_give_the_same_run_key_in_another_process(tmp_path):
    here = globals_kernel.make(tmp_path).run_key(1000)
    code = "import sys, tests.globals_kernel as g; print(g.make(sys.argv[1]).run_key(1000))"
    there = _python("-c", code, str(tmp_path)).split()[-1]
    assert there == here  # a new run in each process would never resume


def test_globals_are_frozen_at_the_first_call_like_numba(tmp_path, monkeypatch):
    monkeypatch.setattr(globals_kernel, "TABLE", np.zeros(1000))
    tsum = globals_kernel.make(tmp_path)
    before = tsum.run_key(1000)
    globals_kernel.TABLE[:] = 2.0  # after decoration, before the first call
    assert tsum.run_key(1000) != before
    assert tsum(1000) == globals_kernel.expected(1000, 2.0, 1.0)
    plain = tsum.original(1000)
    globals_kernel.TABLE[:] = 5.0  # numba has compiled with 2.0: so has blockloop
    assert tsum.original(1000) == plain
    assert tsum(1000) == plain


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
