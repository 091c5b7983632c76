"""Compile a rendered module: write it to the cache directory, import it, return its functions.

The file name carries a digest of the source (which embeds the helper fingerprint), numba's
version and blockloop's own numba helpers, so numba's ``cache=True`` is valid across
processes and a change to a helper gives a new file instead of a stale cache.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
import types
import warnings
from collections.abc import Mapping
from pathlib import Path

from .. import config
from ..storage.fingerprint import digest

__all__ = ["load_module"]

_LOADED: dict[str, types.ModuleType] = {}


_JIT_MODULES = ("tiles.py", "exact.py", "fastsum.py", "superacc.py", "../random.py")
"""blockloop's own numba code that generated modules call: numba's cache does not notice
when a callee changes, so their text is part of every generated module's file name."""


def _jit_helpers_source() -> str:
    here = Path(__file__).parent
    return "".join(here.joinpath(name).read_text() for name in _JIT_MODULES)


def module_path(name: str, source: str) -> Path:
    """Where the module for ``source`` lives in the cache directory."""
    import numba

    key = digest(source, numba.__version__, _jit_helpers_source())[:16]
    return config.cache_dir() / "generated" / f"{name}_{key}.py"


def _write_once(path: Path, source: str) -> None:
    if path.exists() and path.read_text() == source:
        return  # keep the mtime: numba's cache index checks it
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    with os.fdopen(fd, "w") as f:
        f.write(source)
    os.replace(tmp, path)


_FALLBACK: list[Path] = []


def _fallback_dir(exc: OSError) -> Path:
    """A private temporary cache directory for this process, once the configured one
    turned out unwritable (said once, with the variable that moves it); removed when the
    process exits."""
    if not _FALLBACK:
        _FALLBACK.append(Path(tempfile.mkdtemp(prefix="blockloop-cache-")))
        atexit.register(shutil.rmtree, _FALLBACK[0], True)  # nobody else can use it
        warnings.warn(
            f"blockloop cannot write its compile cache in {config.cache_dir()} ({exc}); "
            f"compiling in {_FALLBACK[0]} for this process only, so every new process "
            "compiles again. Set BLOCKLOOP_CACHE_DIR to a writable directory to keep it",
            RuntimeWarning,
            stacklevel=4,
        )
    return _FALLBACK[0]


def load_module(
    name: str, source: str, namespace: Mapping[str, object]
) -> tuple[types.ModuleType, Path]:
    """Import the generated ``source`` with the kernel's globals visible to it.

    Parameters
    ----------
    name : str
        The kernel's name (file name prefix).
    source : str
        The generated module text.
    namespace : mapping
        The user's globals and closure values, so helpers and constants resolve exactly as
        they would in the original kernel.
    """
    path = module_path(name, source)
    cached = _LOADED.get(str(path))
    if cached is not None:
        return cached, path
    try:
        _write_once(path, source)
    except OSError as exc:  # a read-only home or an unwritable BLOCKLOOP_CACHE_DIR
        path = _fallback_dir(exc) / "generated" / path.name
        _write_once(path, source)
    modname = f"blockloop_generated.{path.stem}"
    spec = importlib.util.spec_from_file_location(modname, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update({k: v for k, v in namespace.items() if not k.startswith("__")})
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    _LOADED[str(path)] = module
    return module, path
