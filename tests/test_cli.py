"""The thin command line, in-process and once as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from blockloop import daly_interval
from blockloop.tools.cli import main
from blockloop.tools.selftest import describe
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


def blockloop(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m blockloop ARGV`` in the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "blockloop", *argv],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_source_subprocess():
    out = blockloop("source", "kernels.pi:pi")
    assert out.returncode == 0, out.stderr
    assert "def _bl_chunk(" in out.stdout and "total += 4.0 / (1.0 + x * x)" in out.stdout


def _interrupted_run(ckdir, monkeypatch) -> tuple:
    """A complete pi run and an interrupted fibonacci run (its newest generation kept)."""
    from blockloop.storage.store import RunPaths
    from kernels.fibonacci import fibonacci

    monkeypatch.setenv("BLOCKLOOP_INTERVAL", "0.000001")
    pi(200_000)
    fibonacci(300_000, 1_000_000_007)
    fib_dir = fibonacci.last_report.run_dir
    paths = RunPaths(ckdir, fib_dir.rsplit("/", 1)[1])
    newest = paths.generations()[-1]
    # make it look interrupted: drop the final generation, keep the one before
    paths.manifest(newest).unlink()
    paths.npz(newest).unlink()
    return paths


def test_ls_states_and_progress(ckdir, monkeypatch, capsys):
    fib = _interrupted_run(ckdir, monkeypatch)
    assert main(["ls", str(ckdir), "--json"]) == 0
    rows = {r["kernel"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["pi"]["state"] == "complete" and rows["pi"]["progress"] == 1.0
    assert rows["fibonacci"]["state"] == "interrupted" and 0 < rows["fibonacci"]["progress"] < 1
    assert main(["ls", str(ckdir)]) == 0
    text = capsys.readouterr().out
    assert "interrupted" in text and "complete" in text and "ago" in text
    from blockloop.storage.store import Store

    with Store(fib, None):  # a process holding the run: `running`
        main(["ls", str(ckdir), "--json"])
    rows = {r["kernel"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["fibonacci"]["state"] == "running"


def test_show_reports_progress_arrays_and_sessions(ckdir, monkeypatch, capsys):
    fib = _interrupted_run(ckdir, monkeypatch)
    assert main(["show", str(fib.run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kernel"] == "fibonacci" and info["progress"]["unit"] == "step"
    assert set(info["arrays"]) == {"val_a", "val_b"}
    assert info["policy"]["mtbf"] > 0 and info["sessions"][0]["end"] == "interval"
    assert main(["show", str(fib.run_dir)]) == 0
    assert "session 1" in capsys.readouterr().out
    assert main(["show", str(ckdir / "nothing-here")]) == 2


def test_ls_show_and_verify_understand_a_kernel_of_several_loops(ckdir, capsys):
    """A run of two phases is one run: ``ls`` shows its progress over both, ``show`` the
    phase it is in, ``verify`` checks the generations of every phase."""
    from blockloop.storage.store import RunPaths
    from kernels.moments import moments

    moments(200_000, 1)
    run_dir = RunPaths(ckdir, moments.last_report.run_dir.rsplit("/", 1)[1])
    second = RunPaths(run_dir.run_dir, "phase-2")
    newest = second.generations()[-1]
    second.manifest(newest).unlink()  # phase 2 interrupted: its final generation gone
    second.npz(newest).unlink()
    assert main(["ls", str(ckdir), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["kernel"] == "moments" and row["state"] == "interrupted"
    assert 0.5 <= row["progress"] < 1.0  # phase 1 of 2 done
    assert main(["show", str(run_dir.run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["phase"][1] == 2
    assert main(["verify", str(ckdir)]) == 0
    checked = capsys.readouterr().out.splitlines()[-1]
    # phase 1's final generation and its handoff, and phase 2's generations
    generations = len(second.generations()) + 1
    word = "generation" if generations == 1 else "generations"
    assert checked.startswith(f"{generations} {word} and 1 handoff in 1 run checked")


def test_verify_passes_then_fails_on_a_flipped_byte(ckdir, monkeypatch, capsys):
    fib = _interrupted_run(ckdir, monkeypatch)
    assert main(["verify", str(ckdir)]) == 0
    assert "0 bad" in capsys.readouterr().out
    npz = fib.npz(fib.generations()[-1])
    data = bytearray(npz.read_bytes())
    data[-30] ^= 0xFF  # inside the zip directory or the last array
    npz.write_bytes(bytes(data))
    assert main(["verify", str(ckdir)]) == 1
    assert "BAD" in capsys.readouterr().out


def test_clean_is_a_dry_run_without_yes(ckdir, monkeypatch, capsys):
    fib = _interrupted_run(ckdir, monkeypatch)
    before = sorted(p.name for p in ckdir.iterdir())
    assert main(["clean", str(ckdir), "--complete"]) == 0
    assert "would remove" in capsys.readouterr().out
    assert sorted(p.name for p in ckdir.iterdir()) == before  # nothing deleted
    assert main(["clean", str(ckdir), "--complete", "--yes"]) == 0
    assert [p.name for p in ckdir.iterdir()] == [fib.name]  # only the complete run went
    assert main(["clean", str(ckdir), "--older-than", "7d", "--yes"]) == 0
    assert [p.name for p in ckdir.iterdir()] == [fib.name]  # it is younger than that
    assert main(["clean", str(ckdir)]) == 2  # says what to clean


@pytest.mark.parametrize(
    "argv",
    [
        ["interval", "--cost", "2s", "--mtbf", "6h"],
        ["ls", "{root}"],
        ["show", "{run}"],
        ["verify", "{root}"],
        ["clean", "{root}", "--all"],
        ["sbatch", "--time", "1:00:00", "--", "python", "run.py"],
    ],
    ids=lambda a: a[0],
)
def test_each_subcommand_as_a_subprocess(argv, ckdir, monkeypatch):
    fib = _interrupted_run(ckdir, monkeypatch)
    out = blockloop(*[a.format(root=ckdir, run=fib.run_dir) for a in argv])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


@pytest.mark.parametrize(
    "argv",
    [
        ("kernels.fibonacci:fibonacci", "300000000", "1000000007"),
        ("kernels.features:features", "2000000", "8", "24"),
        ("kernels.scatter:scatter", "2000000", "--args-from", "kernels.scatter:make_args"),
        ("kernels.jacobi:jacobi", "100000", "256", "--args-from", "kernels.jacobi:make_args"),
    ],
    ids=["sequential", "map", "whole-state", "convergence"],
)
@pytest.mark.slow
def test_selftest_subprocess_reports_bit_identical(argv):
    """A sequential kernel, a map loop (its output compared), and one that writes an
    argument anywhere (compared by the argument's bits after the call)."""
    out = blockloop("selftest", *argv, "--kills", "3", timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 interruptions" in out.stdout and "bit-identical" in out.stdout


def test_a_missing_module_or_name_is_one_line(capsys):
    assert main(["source", "no_such_module_here:pi"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no module named 'no_such_module_here'" in err
    assert main(["source", "blockloop.tools.demo:nope"]) == 2
    assert "has no 'nope'" in capsys.readouterr().err
    assert main(["selftest", "no_such_module_here:pi", "10"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["selftest"]) == 2
    assert "e.g. blockloop selftest blockloop.tools.demo:pi" in capsys.readouterr().err


@pytest.mark.slow
def test_a_wheel_runs_the_demo_outside_the_clone(tmp_path):
    """``blockloop demo`` needs nothing from the clone: the wheel, installed on its own
    into a directory of its own and run from elsewhere, is killed at its first checkpoint
    and resumes to the bits of an uninterrupted run."""
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)]
    done = subprocess.run([*pip, *build], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("blockloop-*.whl")
    install = ["install", "--no-deps", "--target", str(site), str(wheel)]
    done = subprocess.run([*pip, *install], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in site.iterdir() if not p.name.endswith("-info")} <= {
        "blockloop",
        "bin",
    }
    env = child_env(PYTHONPATH=str(site))  # ahead of the editable install of the clone

    def python(*argv: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )

    where = python("-c", "import blockloop; print(blockloop.__file__)")
    assert where.stdout.startswith(str(site)), where
    demo = ("-m", "blockloop", "demo", "--n", "2e9", "--json", "--interval", "0.05")
    killed = python(*demo, BLOCKLOOP_FAULT="dir-synced@1")  # exits at a checkpoint
    assert killed.returncode == 77, killed.stderr
    resumed = python(*demo)
    whole = python(*demo, "--checkpoint-dir", str(tmp_path / "whole"))
    assert resumed.returncode == whole.returncode == 0, resumed.stderr + whole.stderr
    got, want = json.loads(resumed.stdout), json.loads(whole.stdout)
    assert 0 < got["report"]["resumed_from"] < got["report"]["units_total"], got["report"]
    assert got["hash"] == want["hash"]


def test_selftest_describes_arrays_of_records_and_strings():
    records = np.zeros(3, dtype=[("count", "i8"), ("mean", "f8")])
    records["count"] = [1, 2, 3]
    text = describe(records)
    assert text["hash"] != describe(np.zeros_like(records))["hash"]
    assert "shape=(3,)" in text["repr"]
    names = describe(np.array(["fe_1", "fe_2"]))  # a kernel's argument of strings
    assert names["hash"] != describe(np.array(["fe_1", "fe_3"]))["hash"]
    assert "dtype=<U4" in names["repr"]
