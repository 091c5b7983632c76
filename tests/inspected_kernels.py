"""Kernels whose elements each iteration finds by computing its indices (issue 29):
blockloop checks them with an inspection pass at each call."""

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def walsh_stage(a, h):
    # one stage of an in-place fast Walsh-Hadamard transform (the butterfly of the fwht in
    # VectorInstitute/FL4Health's z_backup.py and ebokai/spin_models' py/tools.py), its
    # pairs numbered by one flat prange: pair k is (j, j + h) inside block k // h
    peak = 0.0
    for k in prange(a.shape[0] // 2):
        j = (k // h) * (2 * h) + k % h
        x = a[j]
        y = a[j + h]
        a[j] = x + y
        a[j + h] = x - y
        peak = max(peak, abs(x - y))
    return peak


@njit(cache=True)
def _reversed_bits(i, bits):
    r = 0
    for _ in range(bits):
        r = (r << 1) | (i & 1)
        i >>= 1
    return r


@njit(parallel=True, cache=True)
def bit_reversal(x, bits):
    # the in-place bit-reversal permutation before an FFT (mtguerreiro/pysp's
    # samples_bit_reversal, swapped as in a radix-2 reorder): each pair is swapped once,
    # by its smaller index
    for i in prange(x.shape[0]):
        j = _reversed_bits(i, bits)
        if i < j:
            x[i, 0], x[j, 0] = x[j, 0], x[i, 0]
            x[i, 1], x[j, 1] = x[j, 1], x[i, 1]


@njit(parallel=True, cache=True)
def quadrants_swapped(img):
    # an fftshift in place: row x of the top half trades its quadrants with row x + n // 2
    # (the shape of an in-place 2-D fftshift in an adaptive-optics simulator)
    h, w = img.shape[0] // 2, img.shape[1] // 2
    for x in prange(h):
        for y in range(w):
            t = img[x, y]
            img[x, y] = img[x + h, y + w]
            img[x + h, y + w] = t
            t = img[x, y + w]
            img[x, y + w] = img[x + h, y]
            img[x + h, y] = t


@njit(parallel=True, cache=True)
def gate_on_a_qubit(state, q, held):
    # a one-qubit gate on a state vector: iteration k pairs the amplitudes whose index has
    # bit q clear and set; an annotated temporary, and a list of what the pair held, which
    # no index needs (the pass computes neither)
    low = (1 << q) - 1
    for k in prange(state.shape[0] // 2):
        i0 = ((k & ~low) << 1) | (k & low)
        i1 = i0 | (1 << q)
        a0: complex = state[i0]
        a1 = state[i1]
        sizes = [abs(a0)]
        sizes.append(abs(a1))
        state[i0] = (a0 + a1) * 0.7071067811865476
        state[i1] = (a0 - a1) * 0.7071067811865476
        held[k] = max(sizes)


@njit(parallel=True, cache=True)
def magnitude_pairs(a, h):
    # a butterfly whose values go through NumPy's functions (np.abs of an element the loop
    # writes) and whose index is converted by np.int64: the module is no value of the loop
    for k in prange(a.shape[0] // 2):
        j = (k // h) * (2 * h) + k % h
        x = np.abs(a[j])
        y = a[np.int64(j + h)]
        a[j] = x + y
        a[j + h] = x - y


@njit(parallel=True, cache=True)
def scaled_in_order(a, order, w):
    # each iteration scales the element its entry of `order` names: race-free where `order`
    # is a permutation, a race where it names one element twice
    for k in prange(order.shape[0]):
        r = order[k]
        a[r] = a[r] * w[k] + 1.0


@njit(parallel=True, cache=True)
def overlapping_pairs(a, h, seen):
    # a butterfly stage that forgets the 2 in its block stride: pair k is (j, j + h) with
    # j = (k // h) * h + k % h = k, so iteration k writes a[k + h], which iteration k + h reads
    for k in prange(a.shape[0] - h):
        j = (k // h) * h + k % h
        x = a[j]
        a[j + h] = x - a[j + h]
        seen[k] = x


@njit(parallel=True, cache=True)
def rows_by_index(a, order):
    # reads a row at a computed index: a view, which the inspection cannot follow
    for k in prange(order.shape[0]):
        r = order[k]
        a[r, 0] = np.sum(a[r])


def inputs(name):
    g = np.random.default_rng(9)
    return {
        "walsh_stage": (g.standard_normal(1 << 16), 1 << 6),
        "bit_reversal": (g.standard_normal((1 << 15, 2)), 15),
        "quadrants_swapped": (g.standard_normal((8000, 64)),),
        "gate_on_a_qubit": (
            g.standard_normal(1 << 14) + 1j * g.standard_normal(1 << 14),
            5,
            np.zeros(1 << 13),
        ),
        "magnitude_pairs": (g.standard_normal(1 << 14), 1 << 5),
        "overlapping_pairs": (g.standard_normal(4096), 64, np.zeros(4096)),
        "rows_by_index": (g.standard_normal((500, 3)), g.permutation(500)),
        "pairs_past_the_end": (g.standard_normal(1000),),
    }[name]


@njit(parallel=True, cache=True)
def pairs_past_the_end(a):
    # one pair too many: the last iteration's a[j] is past the end
    for k in prange(a.shape[0] // 2 + 1):
        j = 2 * k
        a[j] = a[j] + a[j + 1]
