"""Scheduling: when to checkpoint and when to stop.

The Young/Daly interval and the chunk policy (``policy``, ``simulate``), a job's deadline
(``deadline``), the Slurm job script (``jobscript``) and the signals that stop a run
(``signals``).

May import: :mod:`blockloop._errors`, :mod:`blockloop.config` and itself. Never storage,
the runtime, the transform or numba.
"""
