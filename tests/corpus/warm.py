"""Compile the corpus in worker processes before its tests run.

numba compiles on one core, and each corpus kernel is compiled twice (plain numba's and
blockloop's generated module). Workers started with ``spawn`` (never ``fork`` after numba's
threads have started) compile them into the shared disk cache, one share each, while the
test process waits; the tests then load what the workers compiled.
"""

from __future__ import annotations

import tempfile


def warm(names: list[str]) -> int:
    """Call the named cases with blockloop, and with plain numba those whose plain result
    a test compares against (the accepted ones); how many compiled."""
    from blockloop import checkpointed_loop
    from tests.corpus import all_cases

    cases = {c.name: c for c in all_cases()}
    done = 0
    with tempfile.TemporaryDirectory() as root:
        for name in names:
            case = cases[name]
            try:
                if case.expect == "accept" and not case.gap:
                    case.kernel(*case.args())
                checkpointed_loop(checkpoint_dir=root)(case.kernel)(*case.args())
                done += 1
            except Exception:
                continue
    return done
