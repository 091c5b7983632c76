"""``blockloop sbatch``: valid bash with the right options, in both continuation modes."""

from __future__ import annotations

import re
import subprocess

import pytest

from blockloop.scheduling.jobscript import signal_lead, slurm_script
from blockloop.tools.cli import main


def _bash_n(text: str, tmp_path) -> None:
    path = tmp_path / "job.sh"
    path.write_text(text)
    check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def _options(text: str) -> list[str]:
    return re.findall(r"^#SBATCH (\S+)$", text, re.M)


def test_requeue_script(tmp_path):
    text = slurm_script(["python", "run.py", "--n", "1e12"], "4:00:00", write_cost=2.0)
    _bash_n(text, tmp_path)
    opts = _options(text)
    assert "--time=4:00:00" in opts and "--requeue" in opts and "--open-mode=append" in opts
    assert f"--signal=B:USR1@{signal_lead(0.2, 2.0)}" in opts
    assert not any(o.startswith("--array") for o in opts)
    assert "python run.py --n 1e12 &" in text  # the payload runs in the background
    assert "trap forward USR1 TERM" in text and 'kill -USR1 "$payload"' in text
    assert 'scontrol requeue "$SLURM_JOB_ID"' in text and "-eq 85" in text


def test_array_script(tmp_path):
    text = slurm_script(["python", "my run.py"], "30", array=6, sbatch_options=["-c 8"])
    _bash_n(text, tmp_path)
    opts = _options(text)
    assert "--array=1-6%1" in opts and "--requeue" not in opts
    assert "--output=blockloop-%A_%a.out" in opts
    assert "#SBATCH -c 8" in text
    assert "python 'my run.py' &" in text  # quoted for the shell
    assert "scontrol requeue" not in text


def test_signal_lead_covers_a_chunk_and_a_write():
    assert signal_lead(0.2, 1.0) >= 2 * (0.2 + 1.0)
    assert signal_lead(30.0, 20.0) >= 100
    assert signal_lead(0.0, 0.0) == 10


def test_cli_prints_or_writes(capsys, tmp_path):
    assert main(["sbatch", "--time", "1:00:00", "--array", "3", "--", "python", "x.py"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#!/bin/bash") and "--array=1-3%1" in out
    target = tmp_path / "job.sh"
    assert main(["sbatch", "--time", "10", "-w", str(target), "--", "python", "x.py"]) == 0
    assert "sbatch " + str(target) in capsys.readouterr().out
    _bash_n(target.read_text(), tmp_path)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="command"):
        slurm_script([], "10")
    with pytest.raises(ValueError, match="array"):
        slurm_script(["x"], "10", array=0)
