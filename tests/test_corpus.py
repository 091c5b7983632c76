"""The corpus: prange kernels in the shapes of public libraries (tests/corpus).

An accepted kernel gives plain numba's result (its bits, where numba's own bits do not
depend on the thread count) and, for a sample, a run killed after its first checkpoint
resumes to the bits of an uninterrupted run. A refused kernel is refused with a message
that says why. The limits page states the corpus's figure, which must stay current.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from blockloop import BlockingError, checkpointed_loop
from blockloop.testing import Crash, Ticks, crashing_store, injected
from tests.corpus import all_cases, figure
from tests.corpus.warm import warm

pytestmark = pytest.mark.slow  # about 100 kernels compiled twice each (6 minutes, cold)

CASES = all_cases()
ACCEPTED = [c for c in CASES if c.expect == "accept" and not c.gap]
UNSEEN = [c for c in CASES if c.expect == "unseen"]
REFUSED = [c for c in CASES if c.expect in ("race", "refuse") or c.gap]
SAMPLE = ACCEPTED  # those of more than one chunk are killed: at least KILLED of them
KILLED = 25
LIMITS = Path(__file__).resolve().parent.parent / "docs" / "limits.md"


def _name(case) -> str:
    return case.name


def _outputs(args: tuple, result: object) -> list[np.ndarray]:
    """The arguments after the call and the result, as arrays."""
    out = []
    for value in (*args, result):
        if isinstance(value, tuple):
            out += _outputs(value, None)[:-1]
        else:
            out.append(np.asarray(value))
    return out


def _assert_same(got: list[np.ndarray], want: list[np.ndarray], bits: bool) -> None:
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a.dtype == b.dtype and a.shape == b.shape, k
        if bits:
            assert a.tobytes() == b.tobytes(), f"output {k} differs in its bits"
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"output {k}")


@pytest.mark.parametrize("case", ACCEPTED, ids=_name)
def test_an_accepted_kernel_gives_plain_numbas_result(case, tmp_path):
    plain_args = case.args()
    plain = case.kernel(*plain_args)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(case.kernel)
    args = case.args()
    got = kernel(*args)
    _assert_same(_outputs(args, got), _outputs(plain_args, plain), case.exact)


@pytest.fixture(scope="module", autouse=True)
def _compiled_by_two_workers():
    """Compile every case in two spawned workers first (see tests/corpus/warm.py)."""
    names = [c.name for c in CASES]
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            list(pool.map(warm, [names[0::2], names[1::2]]))
    except BrokenProcessPool:
        pass  # a worker died: the tests compile in this process instead


@pytest.fixture(scope="module")
def kills():
    """Whether each sampled case's first call was killed; at least KILLED must be."""
    killed: dict[str, bool] = {}
    yield killed
    if len(killed) == len(SAMPLE):  # the whole sample ran
        assert sum(killed.values()) >= KILLED, killed


@pytest.mark.parametrize("case", SAMPLE, ids=_name)
def test_a_killed_run_resumes_to_the_bits_of_an_uninterrupted_run(case, tmp_path, kills):
    never = checkpointed_loop(checkpoint_dir=tmp_path / "never", interval=1e9)(case.kernel)
    want_args = case.args()
    want = _outputs(want_args, never(*want_args))
    kernel = checkpointed_loop(checkpoint_dir=tmp_path / "run", interval=1.0)(case.kernel)
    with injected(kernel, clock=Ticks(1.0)):  # every chunk "takes" a second: a checkpoint
        try:  # after each, and the process dies at the second
            with injected(kernel, store=crashing_store(1)):
                kernel(*case.args())
            kills[case.name] = False  # a kernel of one chunk completes before that
        except Crash:
            kills[case.name] = True
        args = case.args()  # the caller passes the same arguments again
        _assert_same(_outputs(args, kernel(*args)), want, bits=True)


@pytest.mark.parametrize("case", REFUSED, ids=_name)
def test_a_refused_kernel_is_refused_with_its_reason(case, tmp_path):
    with pytest.raises(BlockingError) as info:
        kernel = checkpointed_loop(checkpoint_dir=tmp_path)(case.kernel)
        kernel(*case.args())  # some refusals need the arguments' types
    assert (case.gap or case.why) in info.value.msg
    assert info.value.filename == case.kernel.py_func.__code__.co_filename


@pytest.mark.parametrize("case", UNSEEN, ids=_name)
def test_a_race_only_the_data_makes_is_accepted_and_its_array_saved_whole(case, tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(case.kernel)
    kernel(*case.args())
    plans = getattr(kernel.plan, "phases", ()) or (kernel.plan,)
    saved = set()
    for plan in plans:
        saved |= set(getattr(plan, "blocks", ())) | set(getattr(plan, "state", ()))
    assert saved, "the array written at data-dependent indices must be saved whole"


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 60
    assert len({c.follows.split(":")[0] for c in CASES}) >= 12


def test_the_limits_page_states_the_corpus_figure():
    assert figure(CASES) in " ".join(LIMITS.read_text().split())
