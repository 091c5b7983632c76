"""Kernels in the shapes of squidpy's spatial-omics Numba code: neighbourhood enrichment over
CSR graphs, clustering coefficients, co-occurrence counting and permutation tests.

The kernels are written for this corpus, not copied: they keep the loop structure of the
squidpy functions named in ``follows`` with our own names and arithmetic.
"""

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _knn_graph(seed, n, k):
    """A symmetric CSR adjacency (sorted indices, no self loops) of a random k-NN graph."""
    pts = rng(seed).random((n, 2))
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nbrs = np.argsort(d2, axis=1)[:, :k]
    adj = np.zeros((n, n), dtype=bool)
    adj[np.repeat(np.arange(n), k), nbrs.ravel()] = True
    adj |= adj.T
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(adj.sum(axis=1))
    indices = np.nonzero(adj)[1].astype(np.int64)
    return indptr, indices


def _enrich_args():
    indptr, indices = _knn_graph(301, 400, 6)
    labels = rng(302).integers(0, 3, size=400)
    return indices, indptr, labels


@case(args=_enrich_args, follows="squidpy: src/squidpy/gr/_nhood.py::_nenrich_{n_cls}_{parallel}")
@njit(parallel=True, cache=True)
def cluster_pair_counts(indices, indptr, labels):
    n = indptr.shape[0] - 1
    per_cell = np.zeros((n, 3), dtype=np.int64)
    for i in prange(n):
        lo, hi = indptr[i], indptr[i + 1]
        for c in indices[lo:hi]:
            per_cell[i, labels[c]] += 1
    g0 = np.zeros(3, dtype=np.int64)
    g1 = np.zeros(3, dtype=np.int64)
    g2 = np.zeros(3, dtype=np.int64)
    for row in prange(n):
        cl = labels[row]
        if cl == 0:
            g0 += per_cell[row]
        elif cl == 1:
            g1 += per_cell[row]
        else:
            g2 += per_cell[row]
    return np.stack((g0, g1, g2))


def _clustering_args():
    indptr, indices = _knn_graph(311, 500, 5)
    return indptr, indices, 500


@case(args=_clustering_args, follows="squidpy: src/squidpy/gr/_nhood.py::_local_clustering")
@njit(parallel=True, cache=True)
def triangle_density(indptr, indices, n):
    out = np.zeros(n)
    for v in prange(n):
        start = indptr[v]
        end = indptr[v + 1]
        deg = end - start
        if deg < 2:
            continue
        shared = 0
        for a in range(start, end):
            u = indices[a]
            i = start
            j = indptr[u]
            u_end = indptr[u + 1]
            while i < end and j < u_end:
                if indices[i] == indices[j]:
                    shared += 1
                    i += 1
                    j += 1
                elif indices[i] < indices[j]:
                    i += 1
                else:
                    j += 1
        out[v] = shared / (deg * (deg - 1))
    return out


def _occur_args():
    xy = rng(321).random((300, 2)) * 100.0
    radii = np.linspace(2.0, 40.0, 6) ** 2
    labels = rng(322).integers(0, 4, size=300)
    return xy[:, 0].copy(), xy[:, 1].copy(), radii, labels, 4


@case(args=_occur_args, follows="squidpy: src/squidpy/gr/_ppatterns.py::_occur_count")
@njit(parallel=True, cache=True)
def co_occurrence_counts(x, y, thresholds, labels, k):
    n = x.shape[0]
    n_r = thresholds.shape[0]
    local = np.zeros((n, k * k * n_r), dtype=np.int32)
    for i in prange(n):
        for j in range(n):
            if i == j:
                continue
            dx = x[i] - x[j]
            dy = y[i] - y[j]
            d2 = dx * dx + dy * dy
            base = (labels[i] * k + labels[j]) * n_r
            for r in range(n_r):
                if d2 <= thresholds[r]:
                    local[i, base + r] += 1
    flat = local.sum(axis=0)
    return flat.reshape(k, k, n_r)


def _scale_args():
    indptr, indices = _knn_graph(331, 400, 7)
    data = rng(332).random(indices.shape[0]) + 0.1
    degrees = 1.0 / np.sqrt(rng(333).random(400) * 7.0 + 1.0)
    return indptr, indices, data, degrees


@case(
    args=_scale_args,
    follows="squidpy: src/squidpy/gr/neighbors.py::_csr_bilateral_diag_scale_helper",
)
@njit(parallel=True, cache=True)
def bilateral_scale(indptr, indices, data, degrees):
    res = np.empty(data.shape[0], dtype=np.float32)
    for i in prange(indptr.shape[0] - 1):
        lo = indptr[i]
        hi = indptr[i + 1]
        nbrs = indices[lo:hi]
        res[lo:hi] = degrees[i] * degrees[nbrs] * data[lo:hi]
    return res


def _perm_args():
    n_cells, n_genes, n_cls = 150, 12, 4
    data = rng(341).random((n_cells, n_genes))
    clustering = rng(342).integers(0, n_cls, size=n_cells)
    inv_counts = 1.0 / np.maximum(np.bincount(clustering, minlength=n_cls), 1)
    mean_obs = rng(343).random((n_cls, n_genes)) * 0.2 + 0.4
    interactions = rng(344).integers(0, n_genes, size=(10, 2))
    pairs = rng(345).integers(0, n_cls, size=(8, 2))
    valid = rng(346).random((10, 8)) < 0.8
    return data, clustering, inv_counts, mean_obs, interactions, pairs, valid, 40, 5


@case(args=_perm_args, follows="squidpy: src/squidpy/gr/_ligrec.py::_score_permutations")
@njit(parallel=True, cache=True)
def permutation_exceedances(
    data, clustering, inv_counts, mean_obs, interactions, pairs, valid, n_perms, seed
):
    n_cells, n_genes = data.shape
    n_cls = mean_obs.shape[0]
    n_inter = interactions.shape[0]
    n_pairs = pairs.shape[0]
    counts = np.zeros((n_inter, n_pairs), dtype=np.int64)
    for p in prange(n_perms):
        np.random.seed(seed + p)
        perm = clustering.copy()
        np.random.shuffle(perm)
        groups = np.zeros((n_cls, n_genes))
        for cell in range(n_cells):
            cl = perm[cell]
            for g in range(n_genes):
                groups[cl, g] += data[cell, g]
        for c in range(n_cls):
            for g in range(n_genes):
                groups[c, g] *= inv_counts[c]
        hits = np.zeros((n_inter, n_pairs), dtype=np.int64)
        for i in range(n_inter):
            rec = interactions[i, 0]
            lig = interactions[i, 1]
            for j in range(n_pairs):
                if not valid[i, j]:
                    continue
                a = pairs[j, 0]
                b = pairs[j, 1]
                if groups[a, rec] + groups[b, lig] > mean_obs[a, rec] + mean_obs[b, lig]:
                    hits[i, j] = 1
        counts += hits
    return counts
