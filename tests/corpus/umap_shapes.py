"""Kernels in the shapes of umap-learn's prange kernels (fuzzy k-NN graphs, layout optimisation).

Written for this corpus, not copied: each kernel follows the loop structure of the umap function
its ``follows`` names (a binary search per row, an epoch loop around a prange over edges or
vertices, a prange inside a loop over samples, nested prange gathers, chunked pairwise
metrics), with its own names and arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _points(seed, n, dim):
    return rng(seed).standard_normal((n, dim))


def _sq_dists(pts):
    return ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)


@njit(cache=True)
def _rdist(x, y):
    acc = 0.0
    for d in range(x.shape[0]):
        diff = x[d] - y[d]
        acc += diff * diff
    return acc


@njit(cache=True)
def _clip(v):
    if v > 4.0:
        return 4.0
    if v < -4.0:
        return -4.0
    return v


@case(
    args=lambda: (_sq_dists(_points(41, 250, 4)), 10),
    follows="umap: umap/utils.py::fast_knn_indices",
)
@njit(parallel=True, cache=True)
def knn_from_dense(dmat, k):
    n = dmat.shape[0]
    nbr = np.empty((n, k), dtype=np.int32)
    nbr_d = np.empty((n, k))
    for row in prange(n):
        order = np.argsort(dmat[row], kind="mergesort")
        for j in range(k):
            nbr[row, j] = order[j]
            nbr_d[row, j] = dmat[row, order[j]]
    return nbr, nbr_d


def _gather_args():
    g = rng(42)
    cols = g.integers(0, 200, (150, 12))
    cols[g.random((150, 12)) < 0.05] = -1
    return g.random((150, 200)), cols, 12


@case(args=_gather_args, follows="umap: umap/utils.py::submatrix")
@njit(parallel=True, cache=True)
def gather_columns(dmat, cols, k):
    n = dmat.shape[0]
    sub = np.zeros((n, k), dtype=dmat.dtype)
    for a in prange(n):
        for b in prange(k):
            c = cols[a, b]
            if c < 0:
                sub[a, b] = np.inf
            else:
                sub[a, b] = dmat[a, c]
    return sub


def _knn_dist_args():
    d = np.sqrt(np.sort(_sq_dists(_points(43, 200, 5)), axis=1)[:, :15])
    d[:5, 1:4] = 0.0  # a few duplicates of the point itself
    return d, 15.0, 64, 1.0


@case(args=_knn_dist_args, follows="umap: umap/umap_.py::smooth_knn_dist")
@njit(parallel=True, cache=True)
def smooth_knn_bandwidth(dists, k, n_iter, bandwidth):
    n, m = dists.shape
    target = math.log2(k) * bandwidth
    rho = np.zeros(n)
    sigma = np.zeros(n)
    mean_all = np.mean(dists)
    mid = 1.0
    for i in prange(n):
        lo = 0.0
        hi = np.inf
        mid = 1.0
        row = dists[i]
        positive = row[row > 0.0]
        if positive.shape[0] > 0:
            rho[i] = positive[0]
        for _ in range(n_iter):
            psum = 0.0
            for j in range(1, m):
                gap = row[j] - rho[i]
                if gap > 0.0:
                    psum += math.exp(-gap / mid)
                else:
                    psum += 1.0
            if abs(psum - target) < 1e-5:
                break
            if psum > target:
                hi = mid
                mid = 0.5 * (lo + hi)
            else:
                lo = mid
                if hi == np.inf:
                    mid *= 2.0
                else:
                    mid = 0.5 * (lo + hi)
        floor = 1e-3 * (np.mean(row) if rho[i] > 0.0 else mean_all)
        sigma[i] = max(mid, floor)
    return sigma, rho


def _trust_args():
    src = _points(44, 60, 6)
    emb = src[:, :2] + 0.3 * rng(45).standard_normal((60, 2))
    d = _sq_dists(emb)
    np.fill_diagonal(d, np.inf)
    return src, np.argsort(d, axis=1, kind="stable")[:, :5], 5


@case(args=_trust_args, follows="umap: umap/validation.py::make_trustworthiness_calculator")
@njit(parallel=True, cache=True)
def trustworthiness_by_sample(src, emb_nbrs, max_k):
    n = src.shape[0]
    trust = np.zeros(max_k + 1)
    dvec = np.zeros(n)
    for i in range(n):
        for j in prange(n):
            dvec[j] = _rdist(src[i], src[j])
        ranked = np.argsort(dvec, kind="mergesort")
        for j in range(max_k):
            rank = 0
            while ranked[rank] != emb_nbrs[i, j]:
                rank += 1
            for k in range(j + 1, max_k + 1):
                if rank > k:
                    trust[k] += rank - k
    for k in range(1, max_k + 1):
        trust[k] = 1.0 - trust[k] * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
    trust[0] = 1.0
    return trust


def _edge_args():
    g = rng(46)
    n, n_edges = 120, 900
    emb = g.standard_normal((n, 2))
    head = g.integers(0, n, n_edges)
    tail = g.integers(0, n, n_edges)
    return emb, head, tail, 6, 1.58, 0.9, 1.0


@case(
    args=_edge_args,
    follows="umap: umap/layouts.py::_optimize_layout_euclidean_single_epoch",
    expect="race",
    why="may read what another writes",
)
@njit(parallel=True, cache=True)
def edge_sgd_epochs(emb, head, tail, n_epochs, a, b, alpha0):
    dim = emb.shape[1]
    for ep in range(n_epochs):
        alpha = alpha0 * (1.0 - ep / n_epochs)
        for e in prange(head.shape[0]):
            # many edges share a vertex: their iterations update the same rows
            cur = emb[head[e]]
            other = emb[tail[e]]
            d2 = _rdist(cur, other)
            if d2 > 0.0:
                coeff = -2.0 * a * b * d2 ** (b - 1.0) / (1.0 + a * d2**b)
            else:
                coeff = 0.0
            for d in range(dim):
                step = _clip(coeff * (cur[d] - other[d]))
                cur[d] += step * alpha
                other[d] -= step * alpha
    return emb


def _negative_args():
    g = rng(47)
    return g.standard_normal((150, 2)), g.standard_normal((200, 2)), 5, 4, 1.58, 0.9, 1.0, 7


@case(
    args=_negative_args,
    follows="umap: umap/layouts.py::_optimize_layout_euclidean_single_epoch",
)
@njit(parallel=True, cache=True)
def negative_sample_epochs(head_emb, tail_emb, n_epochs, n_neg, a, b, gamma, seed):
    n = head_emb.shape[0]
    n_tail = tail_emb.shape[0]
    dim = head_emb.shape[1]
    for ep in range(n_epochs):
        alpha = 1.0 - ep / n_epochs
        for v in prange(n):
            np.random.seed(seed + ep * n + v)
            cur = head_emb[v]
            for _ in range(n_neg):
                k = np.random.randint(0, n_tail)
                other = tail_emb[k]
                d2 = _rdist(cur, other)
                if d2 <= 0.0:
                    continue
                coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * d2**b + 1.0))
                jitter = 1.0 + 0.01 * np.random.random()
                for d in range(dim):
                    cur[d] += _clip(coeff * (cur[d] - other[d])) * alpha * jitter
    return head_emb


def _densmap_args():
    g = rng(48)
    n, n_edges = 100, 600
    emb = g.standard_normal((n, 2))
    head = np.sort(g.integers(0, n, n_edges))
    tail = g.integers(0, n, n_edges)
    indptr = np.searchsorted(head, np.arange(n + 1))
    return emb, indptr, tail, 1.58, 0.9


@case(
    args=_densmap_args,
    follows="umap: umap/layouts.py::_optimize_layout_euclidean_densmap_epoch_init",
)
@njit(parallel=True, cache=True)
def densmap_vertex_sums(emb, indptr, tail, a, b):
    # per vertex over its own CSR row of edges: an edge-parallel `re_sum[head[e]] += ...`
    # loses updates under plain numba
    n = emb.shape[0]
    re_sum = np.zeros(n)
    phi_sum = np.zeros(n)
    for j in prange(n):
        start = indptr[j]
        stop = indptr[j + 1]
        e = start
        while e < stop:
            d2 = _rdist(emb[j], emb[tail[e]])
            phi = 1.0 / (1.0 + a * d2**b)
            re_sum[j] += phi * d2
            phi_sum[j] += phi
            e += 1
    return re_sum, phi_sum


@njit(cache=True)
def _hellinger(x, y):
    root_sum = 0.0
    sx = 0.0
    sy = 0.0
    for d in range(x.shape[0]):
        root_sum += math.sqrt(x[d] * y[d])
        sx += x[d]
        sy += y[d]
    if sx == 0.0 or sy == 0.0:
        return 1.0
    return math.sqrt(max(1.0 - root_sum / math.sqrt(sx * sy), 0.0))


@case(
    args=lambda: (rng(49).random((130, 8)), 16, True),
    follows="umap: umap/distances.py::chunked_parallel_special_metric",
)
@njit(parallel=True, cache=True)
def chunked_hellinger(x, chunk, symmetric):
    n = x.shape[0]
    out = np.zeros((n, n), dtype=np.float32)
    n_chunks = n // chunk + 1
    for c in prange(n_chunks):
        r0 = c * chunk
        r1 = min(r0 + chunk, n)
        c_start = r0 if symmetric else 0
        for c0 in range(c_start, n, chunk):
            c1 = min(c0 + chunk, n)
            for i in range(r0, r1):
                for j in range(c0, c1):
                    out[i, j] = _hellinger(x[i], x[j])
    return out


@case(
    args=lambda: (rng(50).integers(0, 500, 1500), rng(51).integers(0, 500, 120)),
    follows="umap: umap/aligned_umap.py::in1d",
)
@njit(parallel=True, cache=True)
def member_mask(values, wanted):
    lookup = set(wanted)
    hit = np.empty(values.shape[0], dtype=np.bool_)
    for i in prange(values.shape[0]):
        if values[i] in lookup:
            hit[i] = True
        else:
            hit[i] = False
    return hit
