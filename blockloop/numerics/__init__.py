"""Numerics: the ``@njit`` helpers that generated modules call, and their compilation.

Tile partials and their pairwise fold (``tiles``), exact sums (``superacc``, ``fastsum``,
``exact``) and the step that writes a rendered module to the cache and imports it
(``compile``).

May import: numba, :mod:`blockloop.operators` (the names it shares with the renderer),
:mod:`blockloop.config`, :mod:`blockloop.storage.fingerprint` and itself. Never the
transform or the runtime.
"""
