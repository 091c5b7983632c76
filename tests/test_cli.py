"""The thin command line, in-process and once as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from blockloop import daly_interval
from blockloop.cli import main
from kernels.pi import pi
from tests.conftest import ROOT, child_env


def test_interval_json(capsys):
    assert main(["interval", "--cost", "2s", "--mtbf", "6h", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["daly"] == daly_interval(2, 21600)
    assert 0 < out["waste_daly"] <= out["waste_young"] + 1e-12


def test_interval_rejects_bad_duration(capsys):
    assert main(["interval", "--cost", "soon", "--mtbf", "6h"]) == 2
    assert "not a duration" in capsys.readouterr().err


def test_ls_lists_a_complete_run(ckdir, capsys):
    pi(100_000)
    assert main(["ls", str(ckdir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in rows] == ["complete"] and rows[0]["progress"] == 1.0


def test_source_subprocess():
    out = subprocess.run(
        [sys.executable, "-m", "blockloop", "source", "kernels.pi:pi"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "def _bl_chunk(" in out.stdout and "total += 4.0 / (1.0 + x * x)" in out.stdout
