"""A progress bar over tiles or steps, on for terminals and notebooks, off otherwise.

One bar per loop, shown only once the loop has run for :data:`DELAY` seconds (a warm-up
call on small arguments shows none), updated in place: tqdm's text bar in a terminal, its
widget in a notebook that has ``ipywidgets`` (the ``notebook`` extra), and otherwise one
line of notebook output that is replaced as the loop goes (never a new output per
refresh).
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

from .. import config

__all__ = ["DELAY", "Progress", "want_progress"]

DELAY = 1.0  # seconds a loop runs before its bar appears
REFRESH = 0.5  # seconds between updates of a notebook line
_calls = itertools.count(1)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def want_progress(option: bool | None) -> bool:
    """Decorator option, else ``BLOCKLOOP_PROGRESS``, else terminal-or-notebook."""
    if option is not None:
        return bool(option)
    env = config.progress()
    if env is not None:
        return env
    return _in_notebook() or bool(getattr(sys.stderr, "isatty", lambda: False)())


def _widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class NotebookLine:
    """One line of notebook output that a loop's progress replaces in place, for notebooks
    without ``ipywidgets`` (tqdm's text bar would add an output at every refresh there).

    The output's metadata names the bar (``{"blockloop": {"progress": K}}``, K counting the
    bars of this process), so that one can check that a call made one output.
    """

    def __init__(self, total: int | None, initial: int, desc: str, unit: str) -> None:
        self.total, self.n, self.initial = total, initial, initial
        self.desc, self.unit, self.postfix = desc, unit, ""
        self.start = self.shown = time.monotonic()
        self.metadata = {"blockloop": {"progress": next(_calls)}}
        self.handle: Any = None

    def _text(self) -> dict[str, str]:
        from tqdm import tqdm

        line = tqdm.format_meter(
            self.n,
            self.total,
            time.monotonic() - self.start,
            ncols=80,
            prefix=self.desc,
            unit=self.unit,
            postfix=self.postfix or None,
            initial=self.initial,
        )
        return {"text/plain": line}

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text

    def update(self, n: int) -> None:
        from IPython.display import display

        self.n += n
        now = time.monotonic()
        if self.handle is None:
            if now - self.start >= DELAY:
                self.handle = display(
                    self._text(), raw=True, display_id=True, metadata=self.metadata
                )
                self.shown = now
        elif now - self.shown >= REFRESH:
            self.handle.update(self._text(), raw=True, metadata=self.metadata)
            self.shown = now

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update(self._text(), raw=True, metadata=self.metadata)


class Progress:
    """Tiles done, ETA and the number of checkpoints written; a no-op when disabled."""

    def __init__(
        self, enabled: bool, name: str, total: int | None, done: int, unit: str = "tile"
    ) -> None:
        """``total`` None: the number of units is not known (a convergence loop), so the
        bar shows units done and the rate, not an ETA."""
        self._bar: Any = None
        if not enabled or total == 0:
            return
        notebook = _in_notebook()
        if notebook and not _widgets():
            self._bar = NotebookLine(total, done, name, unit)
            return
        if notebook:
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        self._bar = tqdm(
            total=total,
            initial=done,
            desc=name,
            unit=unit,
            dynamic_ncols=True,
            smoothing=0.1,
            leave=True,
            delay=DELAY,
        )

    def update(self, tiles: int, checkpoints: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"{checkpoints} ckpt", refresh=False)
            self._bar.update(tiles)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
