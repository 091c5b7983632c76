"""The runs under a checkpoint root as the command line sees them: which directories are
blockloop's runs (named as runs, never through a link), their phases, their newest readable
manifest and the row ``blockloop ls`` shows of each."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .._errors import CheckpointError
from ..storage.manifest import Manifest
from ..storage.store import RunPaths, is_locked, load_manifest

__all__ = ["RUN_NAME", "newest_manifest", "phase_of", "run_dirs", "run_phases", "run_row"]


RUN_NAME = re.compile(r"^[A-Za-z_]\w*-[0-9a-f]{16}(-[0-9a-f]{16})?$")
"""How blockloop names a run directory: ``KERNEL-KEY`` or ``KERNEL-KEY-CONTENT``."""


def run_dirs(path: Path, itself: bool = True) -> list[RunPaths]:
    """The run directories at ``path``: the path itself if it is one (and ``itself``),
    else its children named as blockloop names runs; links are never followed."""
    if path.is_symlink() or not path.is_dir():
        return []
    if itself and RUN_NAME.match(path.name) and looks_like_run(path):
        return [RunPaths(path.parent, path.name)]
    return [
        RunPaths(path, p.name)
        for p in sorted(path.iterdir())
        if RUN_NAME.match(p.name) and not p.is_symlink() and p.is_dir()
    ]


def looks_like_run(path: Path) -> bool:
    return (path / "lock").exists() or bool(RunPaths(path.parent, path.name).all_numbers())


def run_phases(paths: RunPaths) -> list[RunPaths]:
    """The phase directories of a kernel of several loops (``phase-1``, ...), in order;
    the run directory itself for a kernel of one loop."""
    found = [p for p in paths.run_dir.glob("phase-*") if p.is_dir() and p.name[6:].isdigit()]
    if not found:
        return [paths]
    return [RunPaths(paths.run_dir, p.name) for p in sorted(found, key=lambda p: int(p.name[6:]))]


def newest_manifest(paths: RunPaths) -> tuple[Manifest | None, int]:
    """The newest readable manifest of a run (of its latest phase with one), and how many
    manifests were unreadable."""
    bad = 0
    for phase in reversed(run_phases(paths)):
        for g in reversed(phase.generations()):
            try:
                return load_manifest(phase.manifest(g)), bad
            except CheckpointError:
                bad += 1
    return None, bad


def phase_of(manifest: Manifest) -> tuple[int, int]:
    """The phase a manifest belongs to and the kernel's number of phases."""
    loop = manifest.identity.loop
    return int(loop.get("phase", 1)), int(loop.get("phases", 1))


def run_row(paths: RunPaths, newest: tuple[Manifest | None, int] | None = None) -> dict:
    """What ``ls`` shows of one run; ``newest`` is ``newest_manifest(paths)`` if already read."""
    manifest, bad = newest or newest_manifest(paths)
    row: dict[str, object] = {
        "run": paths.name,
        "path": str(paths.run_dir),
        "kernel": None,
        "state": "empty",
        "progress": None,
        "generations": sum(len(p.generations()) for p in run_phases(paths)),
        "age_s": None,
    }
    if manifest is not None:
        state = manifest.state
        phase, phases = phase_of(manifest)
        within = state.done / state.total if state.total else 1.0
        row["kernel"] = state.kernel
        row["progress"] = (phase - 1 + within) / phases
        row["age_s"] = max(0.0, time.time() - manifest.written)
        complete = state.complete and phase == phases
        row["state"] = "complete" if complete else "interrupted"
    elif bad:
        row["state"] = "corrupt"
    if any(is_locked(p) for p in run_phases(paths)):
        row["state"] = "running"
    return row
