"""Kernels blockloop must refuse. ``# refused: TEXT`` marks the line the error must name
and a phrase its message must contain. Imported by tests/test_refusals.py."""

import random

import numpy as np
from numba import njit, pndindex, prange
from numba.core.typing.builtins import IndexValue


def bad_no_loop(n):  # refused: has no top-level loop to block
    return n * 2


def bad_later_phase_reads_loop_local(n):
    s = 0.0
    for i in prange(n):
        t = i * 2.0
        s += t
    for j in prange(n):
        s += j
    return s + t  # refused: bound inside the prange loop and read after it


def bad_nested_only(n):
    s = 0.0
    m = max(n // 2, 0)  # a call: the kernel computes it, not known from the arguments alone
    if m > 0:
        for i in prange(n):  # refused: make it a statement of the function body itself
            s += i
    return s


def bad_decay(x):
    s = 0.0
    for i in prange(x.shape[0]):
        s = s * 0.5 + x[i]  # refused: not a recognised reduction
    return s


def bad_last(n):
    last = -1
    for i in prange(n):
        last = i  # refused: would depend on which iteration ran last
    return last


def bad_or(c):
    f = False
    for i in prange(c.shape[0]):
        f = f or c[i]  # refused: not a recognised reduction
    return f


def bad_read_inside(x):
    total = 0.0
    for i in prange(x.shape[0]):
        total += x[i]
        x[i] = total  # refused: is a reduction variable and is read inside the loop
    return total


def bad_read_in_condition(x):
    total = 0.0
    for i in prange(x.shape[0]):
        if total < 10.0:  # refused: is a reduction variable and is read inside the loop
            total += x[i]
    return total


def bad_two_operators(x):
    s = 1.0
    for i in prange(x.shape[0]):
        s += x[i]
        s *= 2.0  # refused: a reduction needs one operator
    return s


def bad_break(x):
    s = 0.0
    for i in prange(x.shape[0]):
        if x[i] < 0:
            break  # refused: `break` out of the prange loop
        s += x[i]
    return s


def bad_return(x):
    s = 0.0
    for i in prange(x.shape[0]):
        if x[i] < 0:
            return -1.0  # refused: `return` inside the prange loop
        s += x[i]
    return s


def bad_yield(x):
    for i in prange(x.shape[0]):
        yield x[i]  # refused: `yield` inside the prange loop


@njit(cache=True)
def _row_sum(x, i):
    s = 0.0
    for j in range(x.shape[1]):
        s += x[i, j]
    return s


def bad_carried_read(x, a):
    for i in prange(1, x.shape[0]):
        a[i] = a[i - 1] + x[i]  # refused: an iteration may read what another writes
    return a


def bad_write_into_accumulator(x, h):
    for i in prange(x.shape[0]):
        h[int(x[i]) % 4] += 1.0
        h[i] = 0.0  # refused: is a reduction variable and is read inside the loop
    return h


def ok_read_only_helper(x):
    s = 0.0
    for i in prange(x.shape[0]):
        s += _row_sum(x, i)
    return s


def ok_row_update(x):
    s = 0.0
    for i in prange(x.shape[0]):
        t = x[i]
        t *= 2.0  # a number when x is 1-D; a row of x updated in place when x is 2-D
        s += 1.0
    return s


def bad_local_after_loop(x):
    s = 0.0
    for i in prange(x.shape[0]):
        y = x[i] * 2.0
        s += y
    return s + y  # refused: bound inside the prange loop and read after it


def ok_private_update(x):
    for i in prange(x.shape[0]):
        t = x[i]
        t += 1.0
    return 0.0


def make_bad_closure():
    table = {0: 1.0, 1: 2.0}  # an object blockloop cannot fingerprint

    def bad_closure(n):
        s = 0.0
        for i in prange(n):
            s += table[i % 4]  # refused: closes over `table`
        return s

    return bad_closure


def make_good_closure():
    scale = 2.5

    def good_closure(n):
        s = 0.0
        for i in prange(n):
            s += scale * i
        return s

    return good_closure


def bad_star_args(*xs):  # refused: give the kernel named parameters
    s = 0.0
    for i in prange(3):
        s += i
    return s


def bad_pndindex(x):
    s = 0.0
    for idx in pndindex(x.shape):  # refused: loop over the flattened index instead
        s += x[idx]
    return s


def bad_indexvalue_argmin(a):
    ival = IndexValue(-1, np.inf)
    for i in prange(a.shape[0]):
        ival = min(ival, IndexValue(i, a[i]))  # refused: find its first index in a second loop
    return ival.index


def bad_break_allowed_in_inner_loop(x):  # not refused: inner break is fine
    s = 0.0
    for i in prange(x.shape[0]):
        for j in range(10):
            if j > x[i]:
                break
            s += j
    return s


# --------------------------------------------------------------- sequential loops


def bad_seq_return(u, steps):
    for _t in range(steps):
        if u[0] > 1.0:
            return u  # refused: `return` inside the time loop
        u[0] += 1.0
    return u


def bad_while_return(u, tol):
    while u[0] < tol:
        if u[1] > 1.0:
            return u  # refused: set a flag and `break`
        u[0] += 1.0
    return u


def bad_while_else(u, tol):
    while u[0] < tol:
        u[0] += 1.0
    else:
        u[1] = 1.0  # refused: a `while ... else` loop cannot be checkpointed
    return u


def bad_top_loop_over_array(x, out):
    for row in x:  # refused: must run over range(...) (a time loop) or prange(...)
        for i in prange(out.shape[0]):
            out[i] += row[i]
    return out


def bad_instep_reduction_read(u, steps):
    for _t in range(steps):
        s = 0.0
        for i in prange(u.shape[0]):
            s += u[i]
            u[i] = s  # refused: is a reduction variable and is read inside its prange loop
    return u


def bad_instep_two_operators(u, steps):
    for _t in range(steps):
        s = 1.0
        for i in prange(u.shape[0]):
            s += u[i]
            s *= 0.5  # refused: a reduction needs one operator
        u[0] = s
    return u


def bad_seq_index_after(n):
    a = 0
    for t in range(n):
        a += t
    return t  # refused: the loop variable `t` is read after the loop


def bad_seq_local_after(n):
    for t in range(n):
        x = t * 2
    return x  # refused: define it before the loop


def bad_seq_prange_before(u, n):
    first = u[0]
    if first > 0:  # a value of the data: not known from the arguments alone
        for i in prange(u.shape[0]):  # refused: would run unblocked
            u[i] = 0.0
    for _t in range(n):
        u[0] += 1.0
    return u


def bad_seq_rebound_index(n):
    a = 0
    for t in range(n):
        t = t + 1  # refused: the loop variable `t` is rebound
        a += t
    return a


def bad_numpy_random_in_loop(n):
    s = 0.0
    for i in prange(n):
        s += np.random.random() * i  # refused: Use blockloop.random
    return s


def bad_numpy_random_in_time_step(u, steps):
    for _t in range(steps):
        u += np.random.normal(0.0, 1.0, u.shape)  # refused: depend on the thread count
    return u


def bad_draw_after_a_conditional_seed(n):
    s = 0.0
    for i in prange(n):
        if i % 2 == 0:
            np.random.seed(i)
        s += np.random.random()  # refused: Use blockloop.random
    return s


def bad_unseeded_random_in_prologue(n):
    x = np.random.random(n)  # refused: call `np.random.seed(...)` first
    s = 0.0
    for i in prange(n):
        s += x[i]
    return s


def ok_seeded_random_in_prologue(n):
    np.random.seed(42)
    x = np.random.random(n)
    s = 0.0
    for i in prange(n):
        s += x[i]
    return s


# Draws from numpy's global generator that the loop does not spell out (issue 27, item 1):
# through a name imported from numpy.random, through @njit helpers at any depth.
from numpy.random import randn as _randn  # noqa: E402


@njit
def _draw_normal(w):
    return w + np.random.normal(0.0, 1.0)


@njit
def _jitter(w):
    return 0.5 * _draw_normal(w)


def bad_draw_through_alias(n):
    s = 0.0
    for i in prange(n):
        s += _randn() * i  # refused: draws from per-thread generators
    return s


def bad_draw_in_helper(w):
    for t in range(10):
        for i in prange(w.shape[0]):
            w[i] = _draw_normal(w[i]) + t  # refused: _draw_normal -> numpy.random.normal
    return w


def bad_draw_two_helpers_deep(w):
    s = 0.0
    for i in prange(w.shape[0]):
        s += _jitter(w[i])  # refused: _jitter -> _draw_normal -> numpy.random.normal
    return s


def bad_unseeded_alias_before_loop(n):
    start = _randn()  # refused: draws from numpy's unseeded generator
    s = 0.0
    for i in prange(n):
        s += start * i
    return s


def bad_argmin_through_a_local(a):
    best = IndexValue(-1, np.inf)
    for i in prange(a.shape[0]):
        here = IndexValue(i, a[i])
        best = min(best, here)  # refused: numba's argmin idiom
    return best.index


def bad_shared_temporary(img, size):
    # the shape of a focal filter with its window buffer made once, before the loop
    out = np.zeros_like(img)
    vals = np.empty(size)
    for y in prange(img.shape[0]):
        for k in range(size):
            vals[k] = img[y, k]  # refused: every iteration writes the same elements
        out[y, 0] = vals.mean()
    return out


def bad_shared_buffer_refilled(img):
    out = np.zeros_like(img)
    window = np.zeros(3)
    for y in prange(1, img.shape[0] - 1):
        window.fill(0.0)  # refused: every iteration writes the same elements
        for k in range(3):
            window[k] = img[y - 1 + k, 0]
        out[y, 0] = window.sum()
    return out


# reads an array the loop writes, made through a helper or the whole array


@njit(cache=True)
def _previous(a, i):
    return a[i - 1] if i > 0 else 0.0


def bad_helper_reads_a_neighbour(x, a):
    for i in prange(x.shape[0]):
        a[i] = _previous(a, i) + x[i]  # refused: `_previous` reads it at `a[i - 1]`
    return a


@njit(cache=True)
def _root(parent, v):
    r = v
    while parent[r] != r:
        r = parent[r]
    while parent[v] != r:  # shorten the path behind it
        up = parent[v]
        parent[v] = r
        v = up
    return r


def bad_union_find(edges, parent):
    for e in prange(edges.shape[0]):
        a = _root(parent, edges[e, 0])  # refused: hands `parent` on, and `_root` reads it
        b = _root(parent, edges[e, 1])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return parent


def bad_whole_array_read(x, out):
    for i in prange(x.shape[0]):
        out[i] = x[i] / (1.0 + out.max())  # refused: `out.max()` reads all of `out`
    return out


@njit(cache=True)
def _count_at(h, k):
    h[k] = h[k] + 1


def bad_helper_update_at_data_index(keys, h):
    for i in prange(keys.shape[0]):
        _count_at(h, keys[i])  # refused: `_count_at` reads it at `h[k]`
    return h


@njit(cache=True)
def _insert_sorted(rows, i, v):
    k = rows.shape[1] - 1
    if v < rows[i, k]:
        rows[i, k] = v
        while k > 0 and rows[i, k] < rows[i, k - 1]:
            rows[i, k], rows[i, k - 1] = rows[i, k - 1], rows[i, k]
            k -= 1


def ok_helper_at_own_row(vals, rows):
    for i in prange(rows.shape[0]):
        for j in range(vals.shape[1]):
            _insert_sorted(rows, i, vals[i, j])
    return rows


def ok_mirrored_pairs(x, d):
    for i in prange(x.shape[0]):
        for j in range(i + 1, x.shape[0]):
            d[i, j] = abs(x[i] - x[j])
            d[j, i] = d[i, j]  # reads back what this iteration just wrote: its own element
    return d


def bad_affine_next_row(x):
    for i in prange(x.shape[0] // 2 - 1):
        x[2 * i + 1] = x[2 * i + 3] * 0.5  # refused: an iteration may read what another writes


@njit
def _copy_column(dst, src):
    for a in range(dst.shape[0]):
        dst[a] = src[a]


def bad_helper_reads_the_next_column(d):
    for j in prange(d.shape[1] - 1):
        _copy_column(d[:, j], d[:, j + 1])  # refused: an iteration may read what another writes


def bad_read_of_the_next_element_in_a_step(e):
    for t in range(e.shape[1]):
        for s in prange(e.shape[0] - 1):
            e[s, t] = e[s + 1, t] * 0.5  # refused: an iteration may read what another writes


def bad_read_of_a_column_a_view_writes_in_a_step(e):
    for t in range(1, e.shape[1]):
        for s in prange(e.shape[0]):
            previous = e[:, t - 1]  # a view of the column every iteration reads
            previous[s] = 0.5 * previous[s]
            e[s, t] = e[0, t - 1] + 1.0  # refused: an iteration may read what another writes


def bad_read_at_the_index_of_an_owned_row(x, h):
    for i in prange(x.shape[0] - h):
        x[i + h] = x[i] * 0.5  # refused: an iteration may read what another writes


def bad_index_stored_from_what_the_loop_writes(a, out):
    for k in prange(a.shape[0] // 4):
        j = 2 * k
        a[j] = float(j + 2)
        s = np.zeros(2, np.int64)
        s[0] = int(a[j])  # refused: an iteration may read what another writes
        a[s[0]] = 5.0  # an index from an element the loop wrote: the pass cannot know it
        out[k] = s[0]


@njit
def _put_first(vis, v, r=0):
    vis[r, 0] = v


def bad_helper_given_the_same_row_by_every_iteration(x, vis):
    for i in prange(x.shape[0]):
        v = x[i] * 2.0
        _put_first(vis, 1.0)  # refused: every iteration writes the same elements
        x[i] = v


def bad_branch_on_a_rebound_parameter(x, method):
    method = method + 1  # the test below is not the argument's: the call cannot decide it
    s = 0.0
    if method == 1:
        for i in prange(x.shape[0]):  # refused: would run unblocked
            s += x[i]
    else:
        for i in prange(x.shape[0]):
            s += 2.0 * x[i]
    return s


def racy_overlapping_blocks(x, counts):
    m = 8
    for b in prange(x.shape[0] // m - 1):
        for j in range(b * m, (b + 2) * m):  # each block runs into the next one's
            c = counts[j]  # refused at the call: two iterations touch one element
            counts[j] = c + 1


def racy_block_ending_elsewhere_before_the_last(x, counts):
    n = x.shape[0]
    m = 4
    for b in prange(n // m):
        start = b * m
        stop = n if b == 2 else start + m  # block 2 runs over the blocks after it
        for j in range(start, stop):
            c = counts[j]  # refused at the call: two iterations touch one element
            counts[j] = c + 1


@njit
def _smooth_r(lo, hi, q):
    for j in range(lo, hi):
        q[j] = 0.5 * (q[j] + q[j + 1])


def bad_helper_range_reads_the_next_block(q):
    per = 4
    for t in prange(q.shape[0] // per - 1):
        _smooth_r(t * per, t * per + per, q)  # refused: an iteration may read what another writes


@njit
def _scale_r(lo, hi, q):
    for j in range(lo, hi):
        q[j] = q[j] * 0.5 + 1.0


def bad_helper_ranges_overlap(q):
    per = 4
    for t in prange(q.shape[0] // per - 2):
        _scale_r(t * per, t * per + 8, q)  # refused: an iteration may read what another writes


def bad_index_array_the_same_for_every_iteration(x, out):
    for r in prange(x.shape[0] // 4):
        where = np.zeros(4, dtype=np.intp)
        for q in range(4):
            where[q] = q * 4  # the same for every iteration
        for q in range(4):
            out[where[q]] = x[r]  # refused: every iteration writes the same elements


def bad_index_array_shared_by_every_iteration(x, scratch, out):
    for r in prange(x.shape[0] // 4):
        where = scratch  # one array for all iterations, not one each
        for q in range(4):
            where[q] = q * (x.shape[0] // 4) + r
        for q in range(4):
            out[where[q]] = x[r]  # refused: every iteration writes the same elements


def bad_view_of_the_next_slab(x):
    for i in prange(x.shape[1] - 1):
        mine = x[:, i, :]
        theirs = x[:, i + 1, :]
        mine[0, 0] = theirs[0, 0] + 1.0  # refused: an iteration may read what another writes


def bad_column_view_read_after_a_transpose(x):
    for i in prange(x.shape[0]):
        mine = x[i, :]
        mine[0] = 1.0
        t = x.T[:, 0]  # column 0 of x: the first element of every row
        mine[1] = t[0]  # refused: reads all of `x`


def bad_python_random_in_the_loop(x, keep):
    # shape of a Monte Carlo update (fbpic's Compton scattering): Python's ``random``,
    # which numba draws from per-thread states like np.random
    for b in prange(x.shape[0]):
        if random.random() < keep:  # refused: draws from per-thread generators
            x[b] *= 0.5


def bad_python_random_after_a_numpy_seed(x):
    for b in prange(x.shape[0]):
        np.random.seed(b)  # seeds numpy's generator, not Python's
        x[b] = random.gauss(0.0, 1.0)  # refused: draws from per-thread generators


@njit
def _add_into(dst, src):
    dst += src


def bad_flattened_read_of_another_element(x, out, y):
    # i -> (ti, fi): iteration i owns out[ti, fi]; out[ti, 0] is another iteration's
    nf = out.shape[1]
    for i in prange(out.shape[0] * nf):
        ti = i // nf
        fi = i % nf
        _add_into(out[ti, fi], x[ti])
        y[i] = out[ti, 0, 0]  # refused: reads `out`
