"""What numba will see of a kernel, read from the user's module at the first call.

The helpers the kernel calls and which arguments they may write (``helpers``), draws from
numpy's global generator reached through other names or helpers (``draws``), and the
kernel analysed and rendered with one moment's globals for each combination of the
branches its arguments may choose (``blocked``). This is the one place where the pure
transform meets the user's module and numba's objects.

May import: :mod:`blockloop.transform`, :mod:`blockloop.storage` (fingerprints), numba and
the top-level base modules. Never the runtime.
"""
