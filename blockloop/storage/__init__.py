"""Storage: a run's directory, its manifests and arrays, and the commit protocol.

Holds the checkpoint format (frozen manifests with one reader, ``.npz`` arrays, pieces that
generations share), durable writes with named fault points, the completion records written
after a call returns, and the fingerprints that name a run.

May import: :mod:`blockloop._errors`, :mod:`blockloop.config`, :mod:`blockloop.operators`
and itself. Never the runtime, the transform, numba or MPI.
"""
