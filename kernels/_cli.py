"""The command line every example kernel shares (``python -m kernels.NAME --help``): the
one that ships with blockloop for ``blockloop demo``."""

from blockloop.tools.example import main

__all__ = ["main"]
