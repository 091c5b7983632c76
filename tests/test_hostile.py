"""Files that are not blockloop's are never touched, and what a directory holds never hangs
or crashes the command line (issue 27, item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from blockloop import CheckpointError, checkpointed_loop
from blockloop.storage.rundir import read_manifest, sealed_bytes
from blockloop.tools import cli
from tests.conftest import ROOT, child_env
from tests.helpers import fresh, swap_kernel


def _a_run(root):
    """A real completed run under ``root``; its directory."""
    kernel = checkpointed_loop(checkpoint_dir=root)(swap_kernel)
    kernel(fresh(), 5)
    return kernel.run_dir(fresh(), 5)


def test_clean_all_removes_only_provable_runs(tmp_path, capsys):
    root = tmp_path / "project"
    run = _a_run(root)
    for name in ("src", "data", "swap_kernel-0123456789abcdef"):  # the last: named, no manifest
        (root / name).mkdir()
        (root / name / "keep.txt").write_text("user data")
    (root / "lock").write_text("a file of the user's named lock")
    elsewhere = _a_run(tmp_path / "elsewhere")
    os.symlink(elsewhere, root / "swap_kernel-fedcba9876543210")
    assert cli.main(["clean", str(root), "--all", "--yes"]) == 0
    assert not run.exists()
    assert root.is_dir() and (root / "lock").read_text().startswith("a file")
    for name in ("src", "data", "swap_kernel-0123456789abcdef"):
        assert (root / name / "keep.txt").read_text() == "user data"
    assert (root / "swap_kernel-fedcba9876543210").is_symlink() and elsewhere.is_dir()
    assert "no readable blockloop manifest" in capsys.readouterr().out


def test_a_planted_lock_link_is_never_written_through(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path / "runs")(swap_kernel)
    run_dir = kernel.run_dir(fresh(), 5)
    run_dir.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, run_dir / "lock")
    with pytest.raises(CheckpointError, match="symbolic link"):
        kernel(fresh(), 5)
    assert victim.read_text() == "precious"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_run_directory_of_another_user_is_refused(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path / "runs")(swap_kernel)
    run_dir = kernel.run_dir(fresh(), 5)
    run_dir.mkdir(parents=True)
    os.chown(run_dir, 54321, 54321)
    with pytest.raises(CheckpointError, match="belongs to another user"):
        kernel(fresh(), 5)
    assert list(run_dir.iterdir()) == []


def test_a_fifo_named_lock_or_manifest_hangs_no_command(tmp_path):
    run = _a_run(tmp_path)
    os.unlink(run / "lock")
    os.mkfifo(run / "lock")
    fifo_run = tmp_path / "swap_kernel-00000000000000aa"
    fifo_run.mkdir()
    os.mkfifo(fifo_run / "ckpt-000001.json")
    for command in (["ls"], ["verify"], ["clean", "--all"]):
        done = subprocess.run(
            [sys.executable, "-m", "blockloop", command[0], str(tmp_path), *command[1:]],
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=300,  # a hang fails here; a working command takes about a second
        )
        assert "Traceback" not in done.stderr, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "blockloop", "show", str(run)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def test_a_damaged_session_time_is_shown_not_raised(tmp_path, capsys):
    run = _a_run(tmp_path)
    manifest = sorted(run.glob("ckpt-*.json"))[-1]
    body = read_manifest(manifest)
    body["sessions"][0]["start"] = 1e300
    manifest.write_bytes(sealed_bytes(body))
    assert cli.main(["show", str(run)]) == 0
    assert "started ?" in capsys.readouterr().out
    json.loads(json.dumps(body))  # the damaged value is still plain JSON
