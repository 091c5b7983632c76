"""Kernels in the shapes of csrgraph's numba graph routines (``csrgraph/methods.py``,
``csrgraph/random_walks.py``, ``csrgraph/ggvec.py``).

Written for this corpus, not copied from csrgraph: each kernel follows the loop structure of
the named function (a ``prange`` over CSR rows with ``indptr`` slices, a ``prange`` over
random walks each seeded by its own index, an edge loop updating node embeddings) with its
own names and simpler arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng

_NODES = 300


def _graph(seed: int, nodes: int = _NODES, max_degree: int = 8, min_degree: int = 1) -> tuple:
    """A random directed graph in CSR form: sorted neighbours, no self-loops."""
    g = rng(seed)
    degree = g.integers(min_degree, max_degree + 1, size=nodes)
    indptr = np.zeros(nodes + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(degree)
    indices = np.empty(indptr[-1], dtype=np.int64)
    for v in range(nodes):
        picked = g.choice(nodes - 1, size=degree[v], replace=False)
        picked[picked >= v] += 1
        picked.sort()
        indices[indptr[v] : indptr[v + 1]] = picked
    weights = g.random(indptr[-1]) + 0.1
    return indptr, indices, weights


def _walk_args() -> tuple:
    indptr, indices, weights = _graph(1, min_degree=0)
    starts = np.tile(np.arange(_NODES, dtype=np.int64), 2)
    return weights, indptr, indices, starts, 12, 1234


def _biased_args() -> tuple:
    indptr, indices, _ = _graph(2)
    starts = np.arange(_NODES, dtype=np.int64)
    return indptr, indices, starts, 10, 0.5, 2.0, 99


def _embed_args() -> tuple:
    indptr, indices, weights = _graph(3, nodes=120)
    g = rng(4)
    emb = g.random((120, 4)) - 0.5
    bias = np.zeros(120)
    return weights, indices, indptr, emb, bias, 0.05, 10.0


@njit(cache=True)
def _is_among(value, candidates):
    for k in range(candidates.size):
        if candidates[k] == value:
            return True
    return False


@njit(cache=True)
def _dot(a, b):
    s = 0.0
    for k in range(a.size):
        s += a[k] * b[k]
    return s


@njit(cache=True)
def _pull(rate, loss, mine, other):
    for k in range(mine.size):
        mine[k] = mine[k] - rate * loss * other[k]
        if mine[k] < -1.0:
            mine[k] = -1.0
        elif mine[k] > 1.0:
            mine[k] = 1.0


@case(
    args=lambda: (_graph(5)[2], _graph(5)[0]),
    follows="csrgraph: csrgraph/methods.py::_row_norm",
)
@njit(parallel=True, cache=True)
def normalise_rows(weights, indptr):
    nodes = indptr.size - 1
    out = np.empty(weights.size, dtype=np.float64)
    for i in prange(nodes):
        lo = indptr[i]
        hi = indptr[i + 1]
        row_total = np.sum(weights[lo:hi])
        out[lo:hi] = weights[lo:hi] / row_total
    return out


@case(
    args=lambda: (rng(6).random(_NODES) + 0.5, _graph(6)[0], _graph(6)[2]),
    follows="csrgraph: csrgraph/methods.py::_src_multiply",
)
@njit(parallel=True, cache=True)
def scale_by_source(node_weight, indptr, weights):
    nodes = indptr.size - 1
    for i in prange(nodes):
        lo = indptr[i]
        hi = indptr[i + 1]
        weights[lo:hi] = weights[lo:hi] * node_weight[i]


@case(args=_walk_args, follows="csrgraph: csrgraph/random_walks.py::_random_walk")
@njit(parallel=True, cache=True)
def weighted_walks(weights, indptr, dst, starts, walk_len, seed):
    n_walks = starts.size
    walks = np.empty((n_walks, walk_len), dtype=np.int64)
    for w in prange(n_walks):
        np.random.seed(seed + w)
        node = starts[w]
        for k in range(walk_len - 1):
            walks[w, k] = node
            lo = indptr[node]
            hi = indptr[node + 1]
            if lo != hi:
                cdf = np.cumsum(weights[lo:hi])
                draw = np.random.rand() * cdf[-1]
                node = dst[lo + np.searchsorted(cdf, draw)]
            else:
                walks[w, k:] = node
                break
        walks[w, -1] = node
    return walks


@case(
    args=_biased_args,
    follows="csrgraph: csrgraph/random_walks.py::_node2vec_walks_with_rejective_sampling",
)
@njit(parallel=True, cache=True)
def rejection_biased_walks(indptr, indices, starts, walk_len, p, q, seed):
    top = max(1.0 / p, 1.0, 1.0 / q)
    keep_back = 1.0 / p / top
    keep_near = 1.0 / top
    keep_far = 1.0 / q / top
    n_walks = starts.size
    walks = np.empty((n_walks, walk_len), dtype=np.int64)
    for w in prange(n_walks):
        np.random.seed(seed + w)
        node = starts[w]
        walks[w, 0] = node
        node = indices[np.random.randint(indptr[node], indptr[node + 1])]
        walks[w, 1] = node
        for k in range(2, walk_len):
            prev = walks[w, k - 2]
            while True:
                nxt = indices[np.random.randint(indptr[node], indptr[node + 1])]
                r = np.random.random()
                if nxt == prev:
                    if r < keep_back:
                        break
                elif _is_among(nxt, indices[indptr[prev] : indptr[prev + 1]]):
                    if r < keep_near:
                        break
                elif r < keep_far:
                    break
            walks[w, k] = nxt
            node = nxt
    return walks


@case(
    args=_embed_args,
    follows="csrgraph: csrgraph/ggvec.py::_ggvec_edges_update",
    expect="race",
    exact=False,
    why="is a reduction variable and is read inside the loop",
)
@njit(parallel=True, cache=True)
def embedding_edge_pass(weights, dst, indptr, emb, bias, rate, max_loss):
    n_edges = dst.size
    total = 0.0
    for e in prange(n_edges):
        a = dst[e]
        b = np.searchsorted(indptr, e, side="right") - 1
        loss = _dot(emb[a], emb[b]) + bias[a] + bias[b] - math.sqrt(weights[e])
        if loss < -max_loss:
            loss = -max_loss
        elif loss > max_loss:
            loss = max_loss
        _pull(rate, loss, emb[a], emb[b])
        _pull(rate, loss, emb[b], emb[a])
        bias[a] -= rate * loss
        bias[b] -= rate * loss
        total += abs(loss)
    return total / n_edges
