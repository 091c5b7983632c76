"""Kernels in the shapes of pynndescent's prange kernels (nearest-neighbour descent).

Written for this corpus, not copied: each kernel follows the loop structure of the pynndescent
function its ``follows`` names (per-row heaps sorted in place, vertex blocks owned by one
iteration, CSR rows pruned in place, per-row lists, a small xorshift state), with its own names
and arithmetic.
"""

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


@njit(cache=True)
def _sift_down(keys, vals, top):
    """Restore the max-heap order of ``keys`` (``vals`` alongside) below position ``top``."""
    n = keys.shape[0]
    while 2 * top + 1 < n:
        left = 2 * top + 1
        right = left + 1
        big = top
        if keys[left] > keys[big]:
            big = left
        if right < n and keys[right] > keys[big]:
            big = right
        if big == top:
            break
        keys[top], keys[big] = keys[big], keys[top]
        vals[top], vals[big] = vals[big], vals[top]
        top = big


@njit(cache=True)
def _xorshift_unit(state):
    """A number in [0, 1) from a 32-bit xorshift generator kept in ``state[0]``."""
    s = state[0]
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    state[0] = s
    return s / 4294967296.0


@njit(cache=True)
def _bounded_push(pri, ids, p, v):
    """Offer ``v`` with priority ``p`` to a full max-heap; 1 if it went in."""
    if p >= pri[0]:
        return 0
    for q in range(ids.shape[0]):
        if ids[q] == v:
            return 0
    pri[0] = p
    ids[0] = v
    _sift_down(pri, ids, 0)
    return 1


@njit(cache=True)
def _flagged_push(pri, ids, flags, p, v):
    if p >= pri[0]:
        return 0
    for q in range(ids.shape[0]):
        if ids[q] == v:
            return 0
    pri[0] = p
    ids[0] = v
    flags[0] = 1
    n = pri.shape[0]
    top = 0
    while 2 * top + 1 < n:
        left = 2 * top + 1
        big = top
        if pri[left] > pri[big]:
            big = left
        if left + 1 < n and pri[left + 1] > pri[big]:
            big = left + 1
        if big == top:
            break
        pri[top], pri[big] = pri[big], pri[top]
        ids[top], ids[big] = ids[big], ids[top]
        flags[top], flags[big] = flags[big], flags[top]
        top = big
    return 1


@njit(cache=True)
def _sq_dist(x, y):
    acc = 0.0
    for d in range(x.shape[0]):
        diff = x[d] - y[d]
        acc += diff * diff
    return acc


def _knn_graph(seed, n, k, dim):
    """A brute-force k-NN graph (ids, distances) of ``n`` random points, rows ascending."""
    pts = rng(seed).standard_normal((n, dim))
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    ids = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return pts, ids.astype(np.int64), np.take_along_axis(d2, ids, axis=1)


@case(
    args=lambda: (rng(21).integers(0, 1000, (300, 16)), rng(22).random((300, 16))),
    follows="pynndescent: pynndescent/utils.py::deheap_sort",
)
@njit(parallel=True, cache=True)
def heap_sort_rows(ids, dists):
    n, k = dists.shape
    for i in prange(n):
        for top in range(k // 2 - 1, -1, -1):
            _sift_down(dists[i], ids[i], top)
        for end in range(k - 1, 0, -1):
            ids[i, 0], ids[i, end] = ids[i, end], ids[i, 0]
            dists[i, 0], dists[i, end] = dists[i, end], dists[i, 0]
            _sift_down(dists[i, :end], ids[i, :end], 0)
    return ids, dists


def _candidate_args():
    _, ids, _ = _knn_graph(23, 240, 8, 4)
    flags = (rng(24).random(ids.shape) < 0.5).astype(np.uint8)
    return ids, flags, 6, np.array([2463534242], dtype=np.int64), 5


@case(
    args=_candidate_args,
    follows="pynndescent: pynndescent/utils.py::new_build_candidates",
    gap="may read what another writes",
)
@njit(parallel=True, cache=True)
def block_candidates(nbrs, flags, max_cand, seed_state, n_blocks):
    n, k = nbrs.shape
    new_ids = np.full((n, max_cand), -1, dtype=np.int64)
    new_pri = np.full((n, max_cand), np.inf)
    old_ids = np.full((n, max_cand), -1, dtype=np.int64)
    old_pri = np.full((n, max_cand), np.inf)
    width = n // n_blocks + 1

    for b in prange(n_blocks):
        state = seed_state + b
        lo = b * width
        hi = min(lo + width, n)
        for i in range(n):
            for j in range(k):
                p = nbrs[i, j]
                if p < 0:
                    continue
                own_i = lo <= i < hi
                own_p = lo <= p < hi
                if not (own_i or own_p):
                    continue
                u = _xorshift_unit(state)
                if flags[i, j]:
                    if own_i:
                        _bounded_push(new_pri[i], new_ids[i], u, p)
                    if own_p:
                        _bounded_push(new_pri[p], new_ids[p], u, i)
                else:
                    if own_i:
                        _bounded_push(old_pri[i], old_ids[i], u, p)
                    if own_p:
                        _bounded_push(old_pri[p], old_ids[p], u, i)

    for i in prange(n):
        for j in range(k):
            p = nbrs[i, j]
            for c in range(max_cand):
                if new_ids[i, c] == p:
                    flags[i, j] = 0
                    break

    return new_ids, old_ids


def _update_args():
    pts, ids, d2 = _knn_graph(25, 200, 6, 3)
    # heaps: largest distance first
    ids = ids[:, ::-1].copy()
    d2 = d2[:, ::-1].copy()
    flags = np.zeros(ids.shape, dtype=np.uint8)
    g = rng(26)
    n_src, per_src = 4, 150
    upd = np.zeros((n_src, per_src, 3))
    n_upd = g.integers(60, per_src, n_src)
    for s in range(n_src):
        p = g.integers(0, 200, per_src)
        q = g.integers(0, 200, per_src)
        upd[s, :, 0] = p
        upd[s, :, 1] = q
        upd[s, :, 2] = ((pts[p] - pts[q]) ** 2).sum(axis=1)
    return ids, d2, flags, upd, n_upd, 3


@case(
    args=_update_args,
    follows="pynndescent: pynndescent/utils.py::apply_graph_update_array",
    gap="may read what another writes",
)
@njit(parallel=True, cache=True)
def apply_updates_by_block(ids, dists, flags, upd, n_upd, n_blocks):
    n = dists.shape[0]
    width = n // n_blocks + 1
    changed = 0
    for b in prange(n_blocks):
        lo = b * width
        hi = min(lo + width, n)
        for s in range(upd.shape[0]):
            for r in range(n_upd[s]):
                p = int(upd[s, r, 0])
                q = int(upd[s, r, 1])
                d = upd[s, r, 2]
                if p == q:
                    continue
                if lo <= p < hi:
                    changed += _flagged_push(dists[p], ids[p], flags[p], d, q)
                if lo <= q < hi:
                    changed += _flagged_push(dists[q], ids[q], flags[q], d, p)
    return changed


def _csr_args():
    g = rng(27)
    n = 250
    lengths = g.integers(0, 30, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(lengths)
    return indptr, g.random(indptr[-1]), 12


@case(
    args=_csr_args,
    follows="pynndescent: pynndescent/pynndescent_.py::degree_prune_internal",
    gap="may read what another writes",
)
@njit(parallel=True, cache=True)
def prune_csr_rows(indptr, data, max_degree):
    n = indptr.shape[0] - 1
    dropped = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        start = indptr[i]
        stop = indptr[i + 1]
        if stop - start <= max_degree:
            continue
        cut = np.sort(data[start:stop])[max_degree]
        k = start
        while k < stop:
            if data[k] > cut:
                data[k] = 0.0
                dropped[i] += 1
            k += 1
    return dropped


def _tree_args():
    g = rng(28)
    dim, depth = 3, 4
    n_inner = 2**depth - 1
    planes = g.standard_normal((n_inner, dim))
    offsets = g.standard_normal(n_inner) * 0.1
    children = np.empty((n_inner, 2), dtype=np.int64)
    for node in range(n_inner):
        for side in range(2):
            child = 2 * node + 1 + side
            # a leaf is stored as -(leaf number) - 1
            children[node, side] = child if child < n_inner else -(child - n_inner) - 1
    pts, ids, _ = _knn_graph(29, 300, 5, dim)
    return pts, ids, planes, offsets, children


@njit(cache=True)
def _leaf_of(x, planes, offsets, children):
    node = 0
    while node >= 0:
        margin = offsets[node]
        for d in range(x.shape[0]):
            margin += planes[node, d] * x[d]
        side = 0
        if margin > 0.0:
            side = 1
        node = children[node, side]
    return -node - 1


@case(args=_tree_args, follows="pynndescent: pynndescent/rp_trees.py::score_tree")
@njit(parallel=True, cache=True)
def leaf_overlap_score(pts, nbrs, planes, offsets, children):
    n, k = nbrs.shape
    leaves = np.empty(n, dtype=np.int64)
    for i in prange(n):
        leaves[i] = _leaf_of(pts[i], planes, offsets, children)

    score = 0.0
    together = 0
    for i in prange(n):
        hits = 0
        for j in range(k):
            if leaves[nbrs[i, j]] == leaves[i]:
                hits += 1
        together += hits
        if hits > 0:
            score += 1.0  # sums of 0.0 and 1.0: exact in any order
    return score / n, together


def _diversify_args():
    pts, ids, d2 = _knn_graph(30, 200, 10, 3)
    ids[rng(31).random(200) < 0.1, 7:] = -1
    return ids, d2, pts, 0.7, np.array([88172645], dtype=np.int64)


@case(args=_diversify_args, follows="pynndescent: pynndescent/pynndescent_.py::diversify")
@njit(parallel=True, cache=True)
def diversify_rows(ids, dists, pts, keep_prob, seed_state):
    n, k = ids.shape
    for i in prange(n):
        state = seed_state + i
        kept_ids = [ids[i, 0]]
        kept_d = [dists[i, 0]]
        for j in range(1, k):
            if ids[i, j] < 0:
                break
            keep = True
            for q in range(len(kept_ids)):
                d = _sq_dist(pts[ids[i, j]], pts[kept_ids[q]])
                if kept_d[q] > 1e-12 and d < dists[i, j]:
                    if _xorshift_unit(state) < keep_prob:
                        keep = False
                        break
            if keep:
                kept_ids.append(ids[i, j])
                kept_d.append(dists[i, j])
        for j in range(k):
            if j < len(kept_ids):
                ids[i, j] = kept_ids[j]
                dists[i, j] = kept_d[j]
            else:
                ids[i, j] = -1
                dists[i, j] = np.inf
    return ids, dists


@case(
    args=_diversify_args,
    follows="pynndescent: pynndescent/pynndescent_.py::diversify",
    expect="race",
    why="`_xorshift_unit` reads it at `state[0]`",
)
@njit(parallel=True, cache=True)
def diversify_shared_state(ids, dists, pts, keep_prob, state):
    n, k = ids.shape
    for i in prange(n):
        kept_ids = [ids[i, 0]]
        kept_d = [dists[i, 0]]
        for j in range(1, k):
            if ids[i, j] < 0:
                break
            keep = True
            for q in range(len(kept_ids)):
                d = _sq_dist(pts[ids[i, j]], pts[kept_ids[q]])
                if kept_d[q] > 1e-12 and d < dists[i, j]:
                    # every iteration advances the one generator state: state[0] is read
                    # and written by all of them
                    if _xorshift_unit(state) < keep_prob:
                        keep = False
                        break
            if keep:
                kept_ids.append(ids[i, j])
                kept_d.append(dists[i, j])
        for j in range(k):
            if j < len(kept_ids):
                ids[i, j] = kept_ids[j]
                dists[i, j] = kept_d[j]
            else:
                ids[i, j] = -1
                dists[i, j] = np.inf
    return ids, dists
