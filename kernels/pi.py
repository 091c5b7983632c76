"""pi as the midpoint integral of 4/(1+x^2) on [0, 1] — the classic HPC lecture example.

The kernel is the one that ships with blockloop for ``blockloop demo``
(``blockloop/tools/demo.py``); this module gives it the example kernels' command line.
"""

from __future__ import annotations

import sys

from blockloop.tools.demo import make_args, pi

__all__ = ["make_args", "pi"]

if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(pi, make_args, 2 * 10**9, doc=__doc__))
