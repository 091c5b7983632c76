"""Kernels in the shapes of QuantEcon's Numba code: inequality indices, Markov chains, value
function iteration and cross-section simulation (QuantEcon.py and the QuantEcon lectures).

The kernels are written for this corpus, not copied: they keep the loop structure of the
functions named in ``follows`` with our own names, models and arithmetic.
"""

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


@case(
    args=lambda: (rng(101).lognormal(0.0, 1.0, 600),),
    follows="quantecon: quantecon/_inequality.py::gini_coefficient",
    exact=False,
)
@njit(parallel=True, cache=True)
def gini_pairwise(y):
    n = y.shape[0]
    row_sums = np.zeros(n)
    for i in prange(n):
        for j in range(n):
            row_sums[i] += abs(y[i] - y[j])
    return np.sum(row_sums) / (2.0 * n * np.sum(y))


@njit(cache=True)
def _household_step(w, z, r, s, rho, sigma):
    z_next = rho * z + sigma * np.random.randn()
    ret = r + 0.02 * np.random.randn()
    wage = np.exp(z_next)
    w_next = (1.0 + ret) * s * w + wage
    return w_next, z_next


@case(
    args=lambda: (rng(111).lognormal(0.0, 0.5, 800), 40, 3),
    follows="quantecon: lectures/wealth_dynamics.md::update_cross_section",
)
@njit(parallel=True, cache=True)
def shift_wealth(w_dist, horizon, seed):
    new_dist = np.empty_like(w_dist)
    for i in prange(w_dist.shape[0]):
        np.random.seed(seed * 100003 + i)
        z = 0.1 * np.random.randn()
        w = w_dist[i]
        for _ in range(horizon):
            w, z = _household_step(w, z, 0.01, 0.75, 0.9, 0.1)
        new_dist[i] = w
    return new_dist


@njit(cache=True)
def _posterior(z, prior, a, b):
    # likelihoods of two exponential signal densities with rates a and b
    fa = a * np.exp(-a * z)
    fb = b * np.exp(-b * z)
    num = prior * fa
    return num / (num + (1.0 - prior) * fb)


@njit(cache=True)
def _lin_interp(x, xp, fp):
    n = xp.shape[0]
    if x <= xp[0]:
        return fp[0]
    if x >= xp[n - 1]:
        return fp[n - 1]
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xp[mid] <= x:
            lo = mid
        else:
            hi = mid
    t = (x - xp[lo]) / (xp[hi] - xp[lo])
    return fp[lo] + t * (fp[hi] - fp[lo])


def _wald_args():
    pi_grid = np.linspace(1e-3, 1.0 - 1e-3, 50)
    z0 = rng(121).exponential(1.0, 40)
    z1 = rng(122).exponential(0.5, 40)
    return pi_grid, z0, z1, 0.5, 1e-6, 25


@case(args=_wald_args, follows="quantecon: lectures/navy_captain.md::Q")
@njit(parallel=True, cache=True)
def wald_fixed_point(pi_grid, z0, z1, cost, tol, max_iter):
    n = pi_grid.shape[0]
    mc_size = z0.shape[0]
    h = np.zeros(n)
    h_new = np.empty(n)
    err = tol + 1.0
    it = 0
    while err > tol and it < max_iter:
        for i in prange(n):
            p = pi_grid[i]
            acc0, acc1 = 0.0, 0.0
            for m in range(mc_size):
                p0 = _posterior(z0[m], p, 1.0, 2.0)
                acc0 += min((1.0 - p0) * 25.0, p0 * 25.0, _lin_interp(p0, pi_grid, h))
                p1 = _posterior(z1[m], p, 1.0, 2.0)
                acc1 += min((1.0 - p1) * 25.0, p1 * 25.0, _lin_interp(p1, pi_grid, h))
            h_new[i] = cost + (p * acc0 + (1.0 - p) * acc1) / mc_size
        err = np.max(np.abs(h_new - h))
        h[:] = h_new
        it += 1
    return h, it


def _search_args():
    w_grid = np.linspace(0.5, 3.0, 24)
    pi_grid = np.linspace(0.01, 0.99, 20)
    draws = rng(131).integers(0, 24, size=40)
    return w_grid, pi_grid, draws, 6


@case(args=_search_args, follows="quantecon: lectures/odu.md::T")
@njit(parallel=True, cache=True)
def job_search_bellman(w_grid, pi_grid, draws, n_iter):
    nw = w_grid.shape[0]
    npi = pi_grid.shape[0]
    beta = 0.9
    v = np.ones((nw, npi))
    for _ in range(n_iter):
        v_new = np.empty_like(v)
        for i in prange(nw):
            for j in prange(npi):
                w = w_grid[i]
                p = pi_grid[j]
                stop = w / (1.0 - beta)
                integral = 0.0
                for m in range(draws.shape[0]):
                    k = draws[m]
                    p_next = _posterior(w_grid[k], p, 1.0, 0.6)
                    integral += _lin_interp(p_next, pi_grid, v[k, :])
                carry_on = 0.3 + beta * integral / draws.shape[0]
                v_new[i, j] = max(stop, carry_on)
        v = v_new
    return v


def _sa_args():
    n_states = 300
    n_actions = rng(141).integers(0, 6, size=n_states)
    indptr = np.zeros(n_states + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(n_actions)
    a_indices = np.empty(indptr[-1], dtype=np.int64)
    for s in range(n_states):
        a_indices[indptr[s] : indptr[s + 1]] = np.sort(
            rng(142 + s).choice(10, size=n_actions[s], replace=False)
        )
    vals = rng(143).normal(size=indptr[-1])
    out_max = np.full(n_states, -np.inf)
    out_arg = np.full(n_states, -1, dtype=np.int64)
    return a_indices, indptr, vals, out_max, out_arg


@case(args=_sa_args, follows="quantecon: quantecon/markov/utilities.py::_s_wise_max_argmax")
@njit(parallel=True, cache=True)
def state_wise_argmax(a_indices, a_indptr, vals, out_max, out_argmax):
    n = out_max.shape[0]
    best = 0
    for s in prange(n):
        lo = a_indptr[s]
        hi = a_indptr[s + 1]
        if lo == hi:
            continue
        best = lo
        k = lo + 1
        while k < hi:
            if vals[k] > vals[best]:
                best = k
            k += 1
        out_max[s] = vals[best]
        out_argmax[s] = a_indices[best]


def _paths_args():
    n = 15
    p = rng(151).random((n, n)) ** 3
    p /= p.sum(axis=1, keepdims=True)
    cdfs = np.cumsum(p, axis=1)
    init = rng(152).integers(0, n, size=400)
    u = rng(153).random((400, 59))
    out = np.zeros((400, 60), dtype=np.int64)
    return cdfs, init, u, out


@case(args=_paths_args, follows="quantecon: quantecon/markov/core.py::_generate_sample_paths")
@njit(parallel=True, cache=True)
def markov_sample_paths(cdfs, init_states, u, out):
    num_reps, ts_length = out.shape
    n = cdfs.shape[0]
    for i in prange(num_reps):
        out[i, 0] = init_states[i]
        for t in range(ts_length - 1):
            row = out[i, t]
            k = np.searchsorted(cdfs[row], u[i, t], side="right")
            if k == n:
                k = np.searchsorted(cdfs[row], cdfs[row, n - 1], side="left")
            out[i, t + 1] = k


def _dense_q_args():
    n_states, n_actions, n_next = 40, 5, 40
    pairs = rng(161).integers(0, n_states * n_actions, size=260)
    s_idx = pairs // n_actions
    a_idx = pairs % n_actions
    q_in = rng(162).random((260, n_next))
    q_out = np.zeros((n_states, n_actions, n_next))
    return s_idx, a_idx, q_in, q_out


@case(
    args=_dense_q_args,
    follows="quantecon: quantecon/markov/utilities.py::_fill_dense_Q",
    expect="unseen",
)
@njit(parallel=True, cache=True)
def fill_transition_table(s_indices, a_indices, q_in, q_out):
    for i in prange(q_in.shape[0]):
        q_out[s_indices[i], a_indices[i], :] = q_in[i, :]
    return q_out
