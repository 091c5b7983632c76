"""Kernels in the shapes of sktime's time-series Numba transforms: autocorrelation features,
random convolutional kernels (ROCKET) and symbolic Fourier approximation (SFA) words and bags.

The kernels are written for this corpus, not copied: they keep the loop structure of the
sktime functions named in ``follows`` with our own names and arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _series(seed, n):
    steps = rng(seed).normal(size=n)
    return np.cumsum(steps) * 0.1 + np.sin(np.arange(n) * 0.07)


@case(
    args=lambda: (_series(401, 1500), 60),
    follows="sktime: sktime/classification/interval_based/_rise_numba.py::acf",
)
@njit(parallel=True, cache=True)
def lag_autocorrelation(x, max_lag):
    out = np.empty(max_lag)
    n = x.shape[0]
    for lag in prange(1, max_lag + 1):
        m = n - lag
        head = x[:-lag]
        tail = x[lag:]
        s1 = np.sum(head)
        s2 = np.sum(tail)
        mu1 = s1 / m
        mu2 = s2 / m
        v1 = np.sum(head * head) - s1 * mu1
        v2 = np.sum(tail * tail) - s2 * mu2
        flat1 = v1 <= 1e-9
        flat2 = v2 <= 1e-9
        if flat1 and flat2:
            out[lag - 1] = 1.0
        elif flat1 or flat2:
            out[lag - 1] = 0.0
        else:
            out[lag - 1] = np.sum((head - mu1) * (tail - mu2)) / math.sqrt(v1 * v2)
    return out


@njit(cache=True)
def _conv_features(x, w, bias, dilation, padding):
    n = x.shape[0]
    length = w.shape[0]
    n_out = n + 2 * padding
    n_out -= (length - 1) * dilation
    end = n + padding
    end -= (length - 1) * dilation
    positive = 0
    best = -np.inf
    for i in range(-padding, end):
        acc = bias
        idx = i
        for j in range(length):
            if idx > -1 and idx < n:
                acc = acc + w[j] * x[idx]
            idx = idx + dilation
        if acc > best:
            best = acc
        if acc > 0:
            positive += 1
    return positive / n_out, best


def _rocket_args():
    n_kernels = 25
    lengths = rng(411).choice(np.array([7, 9, 11]), size=n_kernels).astype(np.int64)
    weights = rng(412).normal(size=int(lengths.sum()))
    biases = rng(413).uniform(-1.0, 1.0, size=n_kernels)
    dilations = (2 ** rng(414).integers(0, 4, size=n_kernels)).astype(np.int64)
    paddings = np.where(rng(415).random(n_kernels) < 0.5, 0, (lengths - 1) * dilations // 2)
    x = np.stack([_series(420 + i, 150) for i in range(30)])
    return x, weights, lengths, biases, dilations, paddings.astype(np.int64)


@case(
    args=_rocket_args,
    follows="sktime: sktime/transformations/rocket/_rocket_numba.py::_apply_kernels",
)
@njit(parallel=True, cache=True)
def rocket_transform(x, weights, lengths, biases, dilations, paddings):
    n_cases = x.shape[0]
    n_kernels = lengths.shape[0]
    n_feats = n_kernels
    n_feats *= 2
    feats = np.zeros((n_cases, n_feats))
    for i in prange(n_cases):
        w0 = 0
        f0 = 0
        for k in range(n_kernels):
            w1 = w0 + lengths[k]
            ppv, mx = _conv_features(x[i], weights[w0:w1], biases[k], dilations[k], paddings[k])
            feats[i, f0] = ppv
            feats[i, f0 + 1] = mx
            w0 = w1
            f0 += 2
    return feats


def _bag_args():
    words = rng(431).integers(0, 64, size=(120, 90)).astype(np.int64)
    words[rng(432).random((120, 90)) < 0.15] = 0
    return words, 64, True


@case(
    args=_bag_args,
    follows="sktime: sktime/transformations/dictionary_based/_sfa_fast_numba.py::create_bag_none",
)
@njit(parallel=True, cache=True)
def word_bags(words, n_features, skip_zero):
    bags = np.zeros((words.shape[0], n_features), dtype=np.int64)
    for j in prange(words.shape[0]):
        if skip_zero:
            kept = words[j][np.nonzero(words[j])]
            bags[j, :] = np.bincount(kept, minlength=n_features)
        else:
            bags[j, :] = np.bincount(words[j], minlength=n_features)
    return bags


@njit(cache=True)
def _window_dft(segment, n_coefs):
    n = segment.shape[0]
    out = np.zeros(n_coefs)
    mu = np.mean(segment)
    sd = np.std(segment)
    if sd < 1e-8:
        sd = 1e-8
    for c in range(n_coefs // 2):
        re = 0.0
        im = 0.0
        for t in range(n):
            ang = 2.0 * math.pi * c * t / n
            v = (segment[t] - mu) / sd
            re += v * math.cos(ang)
            im -= v * math.sin(ang)
        out[2 * c] = re / math.sqrt(n)
        out[2 * c + 1] = im / math.sqrt(n)
    return out


@case(
    args=lambda: (np.stack([_series(440 + i, 130) for i in range(40)]), 16, 6),
    follows="sktime: sktime/transformations/dictionary_based/_sfa_fast_numba.py::_binning_dft",
)
@njit(parallel=True, cache=True)
def windowed_dft(x, window, n_coefs):
    n_cases, length = x.shape
    n_win = math.ceil(length / window)
    segs = np.zeros((n_cases, n_win, window))
    for i in prange(n_cases):
        for j in range(n_win - 1):
            segs[i, j] = x[i, window * j : window * (j + 1)]
        segs[i, n_win - 1] = x[i, length - window : length]
    coefs = np.zeros((n_cases, n_win, n_coefs))
    for i in prange(n_cases):
        for j in range(n_win):
            coefs[i, j] = _window_dft(segs[i, j], n_coefs)
    return coefs


def _words_args():
    dfts = rng(451).normal(size=(50, 40, 4))
    cuts = np.sort(rng(452).normal(size=(4, 3)), axis=1)
    return dfts, cuts, 2, 5, 1


@case(
    args=_words_args,
    follows="sktime: sktime/transformations/dictionary_based/_sfa_fast_numba.py::generate_words",
    gap="may read what another writes",
)
@njit(parallel=True, cache=True)
def sfa_words(dfts, breakpoints, letter_bits, gap, method):
    n_cases, n_win, word_len = dfts.shape
    words = np.zeros((n_cases, n_win + max(0, n_win - gap)), dtype=np.int64)
    word_bits = word_len * letter_bits
    if method == 0:
        for a in prange(n_cases):
            for w in range(n_win):
                code = 0
                for i in range(word_len):
                    code = (code << letter_bits) | (1 if dfts[a, w, i] > breakpoints[i, 0] else 0)
                words[a, w] = code
    elif method == 1:
        for a in prange(n_cases):
            for i in range(word_len):
                letters = np.searchsorted(breakpoints[i], dfts[a, :, i])
                words[a, :n_win] = (words[a, :n_win] << letter_bits) | letters
    for a in prange(0, n_win - gap):
        first = words[:, a]
        second = words[:, a + gap]
        words[:, n_win + a] = (first << word_bits) | second
    return words


@case(
    args=lambda: (rng(461).integers(0, 1 << 12, size=(30, 200)).astype(np.int64), 3, 12),
    follows="sktime: sktime/transformations/dictionary_based/_sfa_fast_numba.py::generate_words",
    expect="race",
    why="may read what another writes",
)
@njit(parallel=True, cache=True)
def chain_bigrams_inplace(words, gap, word_bits):
    n = words.shape[1]
    keep = (1 << (2 * word_bits)) - 1
    for a in prange(n - gap):
        words[:, a] = ((words[:, a] << word_bits) | words[:, a + gap]) & keep
    return words
