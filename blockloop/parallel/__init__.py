"""Parallelism: the communicator (serial or MPI), the MPI coordinator, numba's threads.

``comm`` imports mpi4py only when asked for or detected; ``mpi`` spreads a run over ranks;
``threads`` lets threadpoolctl see numba's thread count.

May import: the runtime (the coordinator ``mpi`` extends), storage, :mod:`blockloop.config`
and itself. Never the transform, the tools or the decorator.
"""
