"""A threadpoolctl controller for numba's thread pool.

Registered when blockloop is imported, so ``threadpoolctl.threadpool_limits(n)`` limits
blockloop kernels (and every numba parallel kernel in the thread that sets it) and
``threadpoolctl.threadpool_info()`` lists numba with its threading layer.
"""

from __future__ import annotations

from threadpoolctl import LibController, register

__all__ = ["NumbaController", "register_numba_controller"]


class NumbaController(LibController):
    """numba's parallel runtime, found through numba's ``np.ufunc._internal`` extension.

    That module is loaded by ``import numba`` and exports ``ufunc_fromfunc``, which tells
    it apart from other libraries named ``_internal``.
    """

    user_api = "numba"
    internal_api = "numba"
    filename_prefixes = ("_internal",)
    check_symbols = ("ufunc_fromfunc", "PyDUFunc_Type")

    def get_num_threads(self) -> int:
        import numba

        return numba.get_num_threads()

    def set_num_threads(self, num_threads: int) -> None:
        import numba

        limit = int(getattr(numba.config, "NUMBA_NUM_THREADS"))  # noqa: B009 - set at run time
        numba.set_num_threads(max(1, min(int(num_threads), limit)))

    def get_version(self) -> str:
        import numba

        return numba.__version__

    def set_additional_attributes(self) -> None:
        import numba

        config = numba.config
        self.max_threads = int(getattr(config, "NUMBA_NUM_THREADS"))  # noqa: B009
        self.threading_layer = str(getattr(config, "THREADING_LAYER"))  # noqa: B009


_registered = False


def register_numba_controller() -> None:
    """Register :class:`NumbaController` with threadpoolctl (idempotent)."""
    global _registered
    if not _registered:
        register(NumbaController)
        _registered = True
