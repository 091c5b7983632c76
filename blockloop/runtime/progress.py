"""A tqdm progress bar over tiles or steps, on for terminals and notebooks, off otherwise."""

from __future__ import annotations

import sys

from .. import config

__all__ = ["Progress", "want_progress"]


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


def _tqdm_class() -> type:
    """The notebook widget bar in a notebook with ipywidgets, else the text bar."""
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as widget

            return widget
        except ImportError:
            pass
    from tqdm import tqdm as text

    return text


class Progress:
    """Tiles done, ETA and the number of checkpoints written; a no-op when disabled."""

    def __init__(
        self, enabled: bool, name: str, total: int | None, done: int, unit: str = "tile"
    ) -> None:
        """``total`` None: the number of units is not known (a convergence loop), so the
        bar shows units done and the rate, not an ETA."""
        self._bar = None
        if enabled and (total is None or total > 0):
            tqdm = _tqdm_class()
            self._bar = tqdm(
                total=total,
                initial=done,
                desc=name,
                unit=unit,
                dynamic_ncols=True,
                smoothing=0.1,
                leave=True,
            )

    def update(self, tiles: int, checkpoints: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"{checkpoints} ckpt", refresh=False)
            self._bar.update(tiles)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
