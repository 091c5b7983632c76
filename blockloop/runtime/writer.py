"""One background writer: at most one checkpoint in flight, errors handed back to the caller."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Writer"]


class Writer:
    """Runs one save at a time on a thread; :meth:`wait` joins it and re-raises its error.

    The caller hands over arrays it will not touch until the next :meth:`wait` (a
    snapshot), never live state.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(
        self,
        save: Callable[[dict, Any], tuple[int, float]],
        arrays: dict,
        state: Any,
        done: Callable[[int, float], None],
    ) -> None:
        """Start ``done(*save(arrays, state))`` in the background (after any previous one)."""
        self.wait()

        def work() -> None:
            try:
                done(*save(arrays, state))
            except BaseException as exc:  # handed to the main thread by wait()
                self._error = exc

        self._thread = threading.Thread(target=work, name="blockloop-writer", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight is durable; raise the error it met, if any."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
