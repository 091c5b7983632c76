"""Kernels in the shapes of quimb's Numba accelerated linear algebra: CSR matrix-vector
products, diagonal and Kronecker products, sub-block selection and sparse operator construction.

The kernels are written for this corpus, not copied: they keep the loop structure of the quimb
functions named in ``follows`` with our own names and arithmetic.
"""

import cmath

import numpy as np
from numba import njit, prange, vectorize

from tests.corpus import case, rng


def _random_csr(seed, n_rows, n_cols, per_row):
    counts = rng(seed).integers(0, per_row + 1, size=n_rows)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = rng(seed + 1).integers(0, n_cols, size=indptr[-1]).astype(np.int64)
    data = rng(seed + 2).normal(size=indptr[-1])
    return data, indptr, indices


def _matvec_args():
    data, indptr, indices = _random_csr(201, 900, 900, 12)
    vec = rng(204).normal(size=900)
    return data, indptr, indices, vec, np.zeros(900)


@case(args=_matvec_args, follows="quimb: quimb/core.py::_dot_csr_matvec_prange")
@njit(parallel=True, cache=True)
def csr_matvec(data, indptr, indices, vec, out):
    acc = 0.0
    for i in prange(out.shape[0]):
        start = indptr[i]
        stop = indptr[i + 1]
        acc = 0.0
        k = start
        while k < stop:
            acc += data[k] * vec[indices[k]]
            k += 1
        out[i] = acc


def _expec_args():
    data, indptr, indices = _random_csr(261, 700, 700, 9)
    psi = rng(264).normal(size=700)
    return data, indptr, indices, psi / np.linalg.norm(psi)


@case(args=_expec_args, follows="quimb: quimb/core.py::expectation", exact=False)
@njit(parallel=True, cache=True)
def csr_expectation(data, indptr, indices, psi):
    total = 0.0
    for i in prange(psi.shape[0]):
        row = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            row += data[k] * psi[indices[k]]
        total += psi[i] * row
    return total


@case(
    args=lambda: (rng(211).normal(size=(12, 10)), rng(212).normal(size=(9, 11))),
    follows="quimb: quimb/core.py::_nb_kron_exp_par",
)
@njit(parallel=True, cache=True)
def kron_blocks(a, b):
    m, n = a.shape
    p, q = b.shape
    out = np.empty((m * p, n * q))
    for i in prange(m):
        for j in range(n):
            r0, r1 = i * p, (i + 1) * p
            c0, c1 = j * q, (j + 1) * q
            out[r0:r1, c0:c1] = a[i, j] * b
    return out


@case(
    args=lambda: (rng(221).normal(size=(250, 250)), rng(222).permutation(250)[:90]),
    follows="quimb: quimb/linalg/autoblock.py::subselect",
)
@njit(parallel=True, cache=True)
def pick_sub_block(mat, basis):
    d = basis.shape[0]
    out = np.empty((d, d), dtype=mat.dtype)
    for i in prange(d):
        for j in prange(d):
            out[i, j] = mat[basis[i], basis[j]]
    return out


@case(
    args=lambda: (
        np.zeros((60, 60)),
        rng(231).normal(size=(40, 40)),
        rng(232).integers(0, 60, size=40),
    ),
    follows="quimb: quimb/linalg/autoblock.py::subselect_set",
    expect="unseen",
)
@njit(parallel=True, cache=True)
def scatter_sub_block(mat, block, basis):
    d = basis.shape[0]
    for i in prange(d):
        for j in prange(d):
            mat[basis[i], basis[j]] = block[i, j]


@vectorize(["complex128(float64, float64)"], cache=True)
def _evolve_phase(energy, t):
    return cmath.exp(-1j * t * energy)


@case(
    args=lambda: (rng(241).normal(size=200), rng(242).normal(size=(200, 64)), 0.35),
    follows="quimb: quimb/core.py::_l_diag_dot_dense_par",
)
@njit(parallel=True, cache=True)
def phase_rows(energies, mat, t):
    out = np.empty(mat.shape, dtype=np.complex128)
    for i in prange(energies.shape[0]):
        ph = _evolve_phase(energies[i], t)
        out[i, :] = ph * mat[i, :]
    return out


@njit(cache=True)
def _bit(b, site, n_sites):
    return (b >> (n_sites - 1 - site)) & 1


@njit(cache=True)
def _flip(b, site, n_sites):
    return b ^ (1 << (n_sites - 1 - site))


@case(
    args=lambda: (9, rng(251).uniform(0.5, 1.5, size=8), rng(252).uniform(-0.2, 0.2, size=9)),
    follows="quimb: quimb/experimental/operatorbuilder/operatorbuilder.py::_build_coo_numba_core",
)
@njit(parallel=True, cache=True)
def heisenberg_coo(n_sites, couplings, fields):
    dim = 1 << n_sites
    slots = n_sites
    data = np.zeros(dim * slots)
    rows = np.full(dim * slots, -1, dtype=np.int64)
    cols = np.full(dim * slots, -1, dtype=np.int64)
    for b in prange(dim):
        base = b * slots
        diag = 0.0
        for s in range(n_sites):
            zi = 1.0 - 2.0 * _bit(b, s, n_sites)
            diag += 0.5 * fields[s] * zi
        ptr = base + 1
        for s in range(n_sites - 1):
            xi = _bit(b, s, n_sites)
            xj = _bit(b, s + 1, n_sites)
            if xi == xj:
                diag += 0.25 * couplings[s]
                continue
            diag -= 0.25 * couplings[s]
            c = _flip(_flip(b, s, n_sites), s + 1, n_sites)
            data[ptr] = 0.5 * couplings[s]
            rows[ptr] = b
            cols[ptr] = c
            ptr += 1
        data[base] = diag
        rows[base] = b
        cols[base] = b
    return data, rows, cols
