"""Race-free kernels in shapes blockloop used to refuse (issue 29): a prange nested in the
blocked prange, C-style declarations, scalars copied from array elements, a @vectorize
ufunc called with elements, per-iteration seeding. Each also runs under plain numba."""

import numpy as np
from numba import njit, prange, vectorize
from numpy import add, atleast_2d, ones, zeros

from tests.handed_kernels import sq_euclidean


@njit(parallel=True, cache=True)
def nested_prange(x):
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        for j in prange(x.shape[1]):
            out[i, j] = x[i, j] * 2.0 + i
    return out


@njit(parallel=True, cache=True)
def declared_up_front(x):
    t = 0.0
    d = 0
    out = np.empty(x.shape[0])
    for i in prange(x.shape[0]):
        t = x[i] * 3.0
        d = i % 7
        out[i] = t + d
    return out


@njit(parallel=True, cache=True)
def csr_row_sums(indptr, data):
    out = np.zeros(indptr.shape[0] - 1)
    for v in prange(indptr.shape[0] - 1):
        start = indptr[v]
        k = start
        acc = 0.0
        while k < indptr[v + 1]:
            acc += data[k]
            k += 1
        out[v] = acc
    return out


@njit(parallel=True, cache=True)
def scaled_by_int(x, n):
    out = np.empty(x.shape[0])
    for i in prange(x.shape[0]):
        right = n
        right *= 2
        out[i] = x[i] * right
    return out


@vectorize(cache=True)
def shifted(c, b):
    return c - b


@njit(parallel=True, cache=True)
def ufunc_of_elements(x, bias):
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        for k in range(x.shape[1]):
            out[i, k] = shifted(x[i, k], bias[k])
    return out


@njit(parallel=True, cache=True)
def seeded_draws(n, seed):
    out = np.empty(n)
    for i in prange(n):
        np.random.seed(seed + i)
        out[i] = np.random.random() + np.random.normal()
    return out


@njit(parallel=True, cache=True)
def seeded_pairs(n, k, seed):
    # PaCMAP's deterministic pair sampling: the generator is seeded before every draw
    pairs = np.empty((n * k, 2), dtype=np.int64)
    for i in prange(n):
        for j in range(k):
            np.random.seed(seed + i * k + j)
            pairs[i * k + j][0] = i
            pairs[i * k + j][1] = np.random.randint(n)
    return pairs


@njit(parallel=True, cache=True)
def ufunc_with_positional_out(x, y, out):
    for i in prange(x.shape[0]):
        add(x[i], y[i], out[i])
    return out


@njit(parallel=True, cache=True)
def pair_rows(neighbors, pairs):
    # shape of PaCMAP's sample_neighbors_pair: row r of a flat pair list, chained indexing
    k = neighbors.shape[1]
    for i in prange(neighbors.shape[0]):
        for j in range(k):
            r = i * k + j
            pairs[r][0] = i
            pairs[r][1] = neighbors[i, j]


@njit(parallel=True, cache=True)
def bounded_histogram(energies, edges):
    # shape of tardis's packet loop: a histogram whose bounds are read from its shape
    hist = np.zeros(edges.shape[0] - 1)
    for p in prange(energies.shape[0]):
        b = np.searchsorted(edges, energies[p]) - 1
        if 0 <= b < hist.shape[0]:
            hist[b] += energies[p]
    return hist


@njit(parallel=True, cache=True)
def strided_residues(x, step, m):
    # shape of aeon's sliding_mean_std_one_series: iteration r makes an index array of
    # r, r + step, ... and writes through it, so no two iterations share an element
    out = np.zeros(x.shape[0])
    for r in prange(step):
        where = np.zeros(m, dtype=np.intp)
        for q in range(m):
            where[q] = q * step + r
        mean = 0.0
        for q in range(m):
            mean += x[where[q]] / m
        for q in range(m):
            out[where[q]] = x[where[q]] - mean
    return out


@njit(parallel=True, cache=True)
def distinct_partners(n, k, seed):
    # shape of PaCMAP's sample_MN_pair: row i * k + j of a flat pair list; a partner is
    # drawn again while it repeats one the iteration already wrote in its earlier rows
    pairs = np.empty((n * k, 2), dtype=np.int64)
    for i in prange(n):
        for j in range(k):
            h = (i * 1000003 + j * 7919 + seed) % n
            taken = pairs[i * k : i * k + j, 1]
            while h == i or np.any(taken == h):
                h = (h * 31 + 17) % n
            pairs[i * k + j][0] = i
            pairs[i * k + j][1] = h
    return pairs


@njit(parallel=True, cache=True)
def closest_candidates(X, cands):
    # shape of PaCMAP's sample_MN_pair: distances to a few candidates stored into a
    # scratch array the iteration makes; the nearest is dropped, the next nearest kept
    out = np.empty(X.shape[0], dtype=np.int64)
    for i in prange(X.shape[0]):
        d = np.empty(cands.shape[1])
        for t in range(cands.shape[1]):
            d[t] = sq_euclidean(X[i], X[cands[i, t]])
        best = np.argmin(d)
        d = np.delete(d, [best])
        rest = np.delete(cands[i], [best])
        out[i] = rest[np.argmin(d)]
    return out


@njit(cache=True)
def _mirrored_scale(v):
    if np.all(v == 0):
        return v
    return v / np.sqrt(np.mean(v * v))


@njit(parallel=True, cache=True)
def per_sample_scaled(scores):
    # shape of decoupler's _mean_zscores: a slab x[:, i, :] of a copy, rows of it rescaled
    # through boolean masks in place, then columns of it averaged
    x = scores.copy()
    n_methods, n_samples, n_ftrs = x.shape
    cons = np.zeros((n_samples, n_ftrs))
    for i in prange(n_samples):
        sample = x[:, i, :]
        for k in range(n_methods):
            row = sample[k, :]
            msk = row > 0
            if np.any(msk):
                row[msk] = _mirrored_scale(row[msk])
        for j in range(n_ftrs):
            cons[i, j] = np.mean(sample[:, j])
    return cons


@njit(cache=True)
def _walk_score(values, members):
    run = 0.0
    best = 0.0
    trace = np.zeros(values.size)
    for k in range(values.size):
        run += values[k] if members[k] else -0.1
        trace[k] = run
        best = max(best, run)
    return best, trace


@njit(cache=True)
def _null_mean(values, members, perms):
    null = np.zeros(perms.shape[0])
    for t in range(perms.shape[0]):
        null[t], _ = _walk_score(values, members[perms[t]])
    return null.mean()


@njit(parallel=True, cache=True)
def set_scores(values, sets, perms):
    # shape of decoupler's _stsgsea: per set, a helper's tuple result unpacked into
    # es[j], _ and a null helper storing such results into an array it makes
    es = np.zeros(sets.shape[0])
    nes = np.zeros(sets.shape[0])
    for j in prange(sets.shape[0]):
        members = sets[j]
        es[j], _ = _walk_score(values, members)
        nes[j] = es[j] / _null_mean(values, members, perms)
    return es, nes


@njit(cache=True)
def _recurrence(order, x, table, col):
    # a three-term recurrence into an array the helper makes and returns: the caller's
    # table is only read
    c = zeros((x.size, order))
    c[:, 0] = 1.0
    c[:, 1] = x
    for k in range(1, order - 1):
        for m in range(x.size):
            c[m, k + 1] = table[0, k, col] * x[m] * c[m, k] - table[1, k, col] * c[m, k - 1]
    return c


@njit(cache=True)
def _limb_profile(z, coeffs, order, table):
    coeffs = atleast_2d(coeffs)
    inside = z <= 1.0
    a = zeros((inside.sum(), coeffs.shape[1]))
    for j in range(coeffs.shape[1]):
        a[:, j] = _recurrence(order, z[inside], table, j).sum(axis=1)
    flux = ones((coeffs.shape[0], z.size))
    for b in range(coeffs.shape[0]):  # a @ coeffs[b], without needing scipy's BLAS
        dot = np.zeros(a.shape[0])
        for j in range(coeffs.shape[1]):
            dot += a[:, j] * coeffs[b, j]
        flux[b, inside] -= dot
    return flux


@njit(parallel=True, cache=True)
def transit_models(times, centres, coeffs, order, table):
    # shape of pytransit's general_model_v: NumPy's functions imported by name
    # (``zeros``, ``atleast_2d``), a buffer per parameter vector that a helper's result
    # (an array the helper made) is added into, then stored as the vector's row
    coeffs = atleast_2d(coeffs)
    flux = zeros((centres.size, coeffs.shape[0], times.size))
    for p in prange(centres.size):
        acc = zeros((coeffs.shape[0], times.size))
        z = np.abs(times - centres[p]) * 4.0
        acc[:, :] += _limb_profile(z, coeffs, order, table)
        flux[p, :, :] = acc
    return flux


@njit(parallel=True, cache=True)
def batch_counts(codes, width):
    # shape of thewalrus's _calc_loop_hafnian_batch_odd: an array accumulator updated
    # whole (``h += new``) and, in one branch, at an element (``h[0] += c``)
    h = np.zeros(width, dtype=np.int64)
    for j in prange(codes.shape[0]):
        new = np.zeros(width, dtype=np.int64)
        if codes[j, 0] == 0:
            h[0] += codes[j, 1]
        for k in range(1, width):
            new[k] += codes[j, k % codes.shape[1]] * k
        h += new
    return h


@njit(parallel=True, cache=True)
def batch_kicks(u, weights, counts, batch):
    # shape of fbpic's Compton scattering: prange over batches of particles, each batch
    # updating its own particles in place (``u[j] += ...`` for j in its block)
    n = u.shape[0]
    for b in prange((n + batch - 1) // batch):
        stop = min((b + 1) * batch, n)
        for j in range(b * batch, stop):
            if counts[j] > 0:
                u[j] += weights[j] * (counts[j] - u[j] * 0.5)


@njit(parallel=True, cache=True)
def flattened_fluxes(t, centres, nsamp):
    # shape of pytransit's rr_full: prange over (vector, time) pairs flattened into one
    # index, each iteration adding into its own element out[ipv, ipt]
    npv, npt = centres.shape[0], t.shape[0]
    out = np.zeros((npv, npt))
    for j in prange(npv * npt):
        ipv = j // npt
        ipt = j % npt
        for s in range(nsamp):
            out[ipv, ipt] += np.exp(-((t[ipt] + 0.01 * s - centres[ipv]) ** 2))
        out[ipv, ipt] /= nsamp
    return out


@njit(cache=True)
def _accumulate(dst, src):
    dst += src


@njit(parallel=True, cache=True)
def interval_sums(x, nt, nf):
    # shape of QuartiCal's compute_jhj_jhr: i -> (ti, fi) with fi = i - ti * nf, the
    # element's row bound to a name and handed to a helper that adds into it
    out = np.zeros((nt, nf, x.shape[1]))
    for i in prange(nt * nf):
        ti = i // nf
        fi = i - ti * nf
        acc = out[ti, fi]
        _accumulate(acc, x[(ti + fi) % x.shape[0]])
        _accumulate(acc, x[ti % x.shape[0]])
    return out


@njit(parallel=True, cache=True)
def leaf_updates(leaves, raw):
    # shape of pygbm's _update_raw_predictions: a Python list of (value, sample indices)
    # pairs, each leaf adding its value at its own samples
    for k in prange(len(leaves)):
        value, samples = leaves[k]
        raw[samples] += value


@njit(parallel=True, cache=True)
def shared_neighbours(ind, k):
    # shape of PyOD's _snn_imp: per point, how many neighbours it shares with each other
    # point (Python sets of rows), then the k points it shares most with
    n = ind.shape[0]
    out = np.zeros((n, k), dtype=np.int64)
    for i in prange(n):
        mine = set(ind[i])
        counts = np.empty(n, dtype=np.int64)
        for j in range(n):
            counts[j] = len(set(ind[j]).intersection(mine))
        counts[i] = -1
        out[i] = np.argsort(counts)[::-1][:k]
    return out


# the shape of Soapy's bilinear interpolation (numbalib): a range made before the prange
# and walked by every iteration's inner loop
@njit(parallel=True, cache=True)
def range_made_before(grid, xs, ys, out):
    columns = range(ys.shape[0])
    for i in prange(xs.shape[0]):
        x0 = int(xs[i])
        for j in columns:
            y0 = int(ys[j])
            out[i, j] = grid[x0, y0] * (1.0 - xs[i] + x0) + grid[x0 + 1, y0] * (xs[i] - x0)


@njit(parallel=True, cache=True)
def range_measured(x):
    columns = range(x.shape[1])
    out = np.zeros(x.shape[0])
    for i in prange(x.shape[0]):
        s = 0.0
        for j in columns:
            s += x[i, j]
        out[i] = s / len(columns)
    return out


MOMENTS = np.dtype([("count", np.int64), ("mean", np.float64), ("low", np.float32)])


# the shape of sigpyproc's online moments: a record per channel, each iteration updating
# the fields of its own channel's record in place
@njit(parallel=True, cache=True)
def channel_moments(samples, moments):
    nchan = moments.shape[0]
    for c in prange(nchan):
        count = moments[c]["count"]
        mean = moments[c]["mean"]
        low = moments[c]["low"]
        for s in range(samples.shape[0] // nchan):
            v = samples[s * nchan + c]
            count += 1
            mean += (v - mean) / count
            low = min(low, v)
        moments[c]["count"] = count
        moments[c]["mean"] = mean
        moments[c]["low"] = low


def _moments(nchan):
    out = np.zeros(nchan, MOMENTS)
    out["low"] = np.inf
    return out


def inputs(name):
    g = np.random.default_rng(5)
    x2 = g.random((300, 40))
    tall = g.random((8000, 4))
    return {
        "nested_prange": (x2,),
        "declared_up_front": (x2[:, 0].copy(),),
        "csr_row_sums": (np.cumsum(g.integers(0, 5, 8001)), g.random(40_000)),
        "scaled_by_int": (x2[:, 1].copy(), 3),
        "ufunc_of_elements": (x2, g.random(40)),
        "seeded_draws": (5000, 11),
        "seeded_pairs": (3000, 4, 29),
        "ufunc_with_positional_out": (tall, tall * 2.0, np.zeros_like(tall)),
        "pair_rows": (g.integers(0, 300, (300, 6)), np.zeros((1800, 2), np.int64)),
        "bounded_histogram": (g.integers(1, 9, 4000).astype(np.float64), np.arange(0.5, 8.0)),
        "strided_residues": (g.random(60_000), 3000, 20),
        "distinct_partners": (20_000, 6, 3),
        "closest_candidates": (tall, g.integers(0, 8000, (8000, 6))),
        "per_sample_scaled": (g.standard_normal((3, 4000, 12)),),
        "flattened_fluxes": (np.linspace(-1.0, 1.0, 300), g.uniform(-1.0, 1.0, 200), 3),
        "interval_sums": (g.random((50, 3)), 300, 40),
        "leaf_updates": (
            [
                (float(v), p)
                for v, p in zip(g.random(40), np.array_split(g.permutation(9000), 40), strict=True)
            ],
            np.zeros(9000),
        ),
        "shared_neighbours": (g.integers(0, 60, (400, 8)), 5),
        "channel_moments": (g.standard_normal(4000 * 64).astype(np.float32), _moments(4000)),
        "range_made_before": (
            g.random((64, 64)),
            g.uniform(0.0, 62.0, 3000),
            g.uniform(0.0, 63.0, 50),
            np.zeros((3000, 50)),
        ),
        "batch_kicks": (g.random(60_000), g.random(60_000), g.integers(0, 3, 60_000), 20),
        "batch_counts": (g.integers(0, 3, (50_000, 5)), 9),
        "transit_models": (
            np.linspace(-1.0, 1.0, 200),
            g.uniform(-0.3, 0.3, 8000),
            g.random((2, 3)) * 0.3,
            6,
            g.random((2, 6, 3)),
        ),
        "set_overlaps": (
            {int(v) for v in g.choice(500, 60, replace=False)},
            g.integers(0, 500, 40 * 30),
            np.arange(0, 40 * 30, 30),
            g.integers(5, 30, 40),
        ),
        "column_recurrence": (g.standard_normal((40, 3000)), -g.random((40, 40))),
        "by_dimensions": (
            np.zeros((600, 10, 40)),
            g.standard_normal((40, 600, 10)) * 0.9 ** np.arange(40)[:, None, None],
            g.standard_normal(40),
        ),
        "keyword_rows": (
            g.uniform(0.0, 60.0, (3000, 3)),
            g.standard_normal((64, 64)),
            np.linspace(0.5, 1.5, 12),
            0.3,
        ),
        "momentum_step": (
            g.standard_normal((5000, 2)).astype(np.float32),
            g.standard_normal((5000, 2)).astype(np.float32),
            g.standard_normal((5000, 2)).astype(np.float32) * np.float32(0.1),
            0.1,
            300,
        ),
        "set_scores": (
            g.standard_normal(60),
            g.random((3000, 60)) < 0.2,
            np.argsort(g.random((8, 60)), axis=1),
        ),
    }[name]


@njit(parallel=True, cache=True)
def by_method(x, method):
    out = np.empty_like(x)
    if method == 0:
        for i in prange(x.shape[0]):
            out[i] = x[i] * 2.0
    elif method == 1:
        for i in prange(x.shape[0]):
            out[i] = x[i] + 1.0
    else:
        out[:] = x
    return out


@njit(parallel=True, cache=True)
def normalised_rows(x, mode, scale):
    # a scale declared before the loop and bound in it only under tests the arguments
    # decide, read under others (the shape of Acoular's beamformer normalisations by steer
    # type): for each call, bound in every iteration before it is read, or never read
    n = x.shape[1]
    by_norm = mode == 2
    by_max = mode in (3, 4)
    s = 0.0
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        if by_norm:
            s = 0.0
            for k in range(n):
                s += x[i, k] * x[i, k]
        if by_max:
            s = np.max(np.abs(x[i]))
        if mode == 1:
            for k in range(n):
                out[i, k] = x[i, k] * scale
        elif mode == 2:
            for k in range(n):
                out[i, k] = x[i, k] / np.sqrt(s) * scale
        else:
            for k in range(n):
                out[i, k] = x[i, k] / s * scale
    return out


@njit("void(f4[:, :], f4[:, :], f4[:, :], f4, i4)", parallel=True, cache=True)
def momentum_step(y, grad, vel, lr, it):
    # a declared signature with float32 scalars (TriMap's embedding update): lr=0.1 is
    # 0.1f in the kernel, and blockloop must compute with the same number
    gamma = 0.8 if it > 250 else 0.5
    for i in prange(y.shape[0]):
        for d in range(y.shape[1]):
            vel[i, d] = gamma * vel[i, d] - lr * grad[i, d]
            y[i, d] += vel[i, d]


@njit(parallel=True, cache=True)
def column_recurrence(score, trans):
    # a Viterbi-style forward pass over time steps: each step's prange over states writes
    # column t and reads all of column t - 1, which no iteration of the step writes
    for t in range(1, score.shape[1]):
        for s in prange(score.shape[0]):
            best = -np.inf
            for r in range(score.shape[0]):
                best = max(best, score[r, t - 1] + trans[r, s])
            score[s, t] += best
    return score


@njit(parallel=True, cache=True)
def set_overlaps(chosen, members, starts, counts):
    # an over-representation count (gene sets against a set of chosen genes): a Python set
    # argument, and a name bound to a view and then to a set, whose methods write nothing
    out = np.zeros(starts.shape[0], dtype=np.int64)
    for j in prange(starts.shape[0]):
        group = members[starts[j] : starts[j] + counts[j]]
        group = set(group)
        out[j] = len(chosen.intersection(group)) * 1000 + len(group.difference(chosen))
    return out


@njit(inline="always")
def _rotate_row(uvw, angle):
    c, s = np.cos(angle), np.sin(angle)
    u, v = uvw[0], uvw[1]
    uvw[0] = c * u - s * v
    uvw[1] = s * u + c * v


@njit(inline="always")
def _gather(grid, vis, r, c, u, v):
    iu = int(u) % grid.shape[1]
    iv = int(v) % grid.shape[0]
    for k in range(vis.shape[2]):
        vis[r, c, k] += grid[iv, iu] * (k + 1)
    vis[r, c, :] /= 1.0 + abs(u - iu)


@njit(inline="always")
def _degrid_row(uvw, grid, scales, angle=0.0, vis=None, r=0, nchan=0):
    _rotate_row(uvw[r, :], angle)
    for c in range(nchan):
        _gather(grid, vis, r, c, uvw[r, 0] * scales[c], uvw[r, 1] * scales[c])


@njit(parallel=True, cache=True)
def keyword_rows(uvw, grid, scales, angle):
    # a degridder in the shape of a radio-astronomy library's: each row's work is a helper
    # given the output and its row by keyword (`vis=vis, r=r`), which rotates the row of
    # an argument in place and hands views and the row on to helpers of its own
    vis = np.zeros((uvw.shape[0], scales.shape[0], 2))
    for r in prange(uvw.shape[0]):
        _degrid_row(uvw, grid, scales, angle=angle, vis=vis, r=r, nchan=scales.shape[0])
    return vis


@njit(parallel=True, cache=True)
def by_dimensions(out, d, w):
    # loops chosen by a name the kernel computes from an argument's number of dimensions
    # (a heterogeneous-agent model's impulse responses): `nd = d.ndim - 2` at the top,
    # nested pranges under `if nd == 1`, and a branch that raises
    steps = d.shape[0]
    nd = d.ndim - 2
    if nd == 1:
        for a in prange(d.shape[1]):
            for b in prange(d.shape[2]):
                for t in range(steps):
                    out[a, b, t] += np.sum(d[: steps - t, a, b] * w[t:])
    elif nd == 0:
        for a in prange(d.shape[1]):
            for t in range(steps):
                out[a, 0, t] += np.sum(d[: steps - t, a] * w[t:])
    else:
        raise ValueError("too many dimensions")
