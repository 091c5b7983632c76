"""Damaged and hostile checkpoint files: the reader answers with CheckpointError (or the
original data), never another exception, never unpickling, never a huge allocation."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit, prange

from blockloop import CheckpointError, CheckpointWarning
from blockloop.storage.manifest import Identity, RunState
from blockloop.storage.rundir import seal as _seal
from blockloop.storage.rundir import sealed_bytes
from blockloop.storage.store import RunPaths, Store, read_manifest, verify_generation
from blockloop.testing import Crash, Ticks, crashing_store, injected

IDENTITY = {"kernel": "fuzz", "run_key": "0" * 16}
ARRAYS = {
    "stack_total": np.arange(6.0).reshape(3, 2),
    "buf_0": np.linspace(0.0, 1.0, 256).reshape(16, 16),
    "val_a": np.array(7, dtype=np.int64),
}
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
LIMIT = 8 << 20  # no case may allocate more than this (the files are a few kB)


def _template() -> tuple[Path, bytes, bytes]:
    root = Path(tempfile.mkdtemp(prefix="blockloop-fuzz-"))
    with Store(RunPaths(root, "run"), IDENTITY) as store:
        store.save(ARRAYS, RunState(kernel="fuzz", unit="tile", done=3, total=8, reason="interval"))
    paths = RunPaths(root, "run")
    return root, paths.npz(1).read_bytes(), paths.manifest(1).read_bytes()


ROOT, NPZ, MANIFEST = _template()
PATHS = RunPaths(ROOT, "run")


@pytest.fixture(scope="module", autouse=True)
def _remove_the_template():
    yield
    shutil.rmtree(ROOT, ignore_errors=True)


def _check(npz: bytes, manifest: bytes | None = None) -> None:
    """Write the files, read them back; only CheckpointError or the original arrays."""
    PATHS.npz(1).write_bytes(npz)
    PATHS.manifest(1).write_bytes(MANIFEST if manifest is None else manifest)
    tracemalloc.start()
    try:
        ckpt = verify_generation(PATHS, 1)
    except CheckpointError:
        return
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < LIMIT, f"the reader allocated {peak} bytes"
    for name, array in ARRAYS.items():  # whatever was accepted is exactly the original
        got = ckpt.arrays[name]
        assert got.dtype == array.dtype and np.array_equal(got, array)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(NPZ)))
def test_truncated(cut):
    _check(NPZ[:cut])


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(NPZ) - 1), st.integers(0, 7)), min_size=1))
def test_bit_flips(flips):
    _check(_flipped(NPZ, flips))


def _flipped(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, bit in flips:
        out[pos] ^= 1 << bit
    return bytes(out)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(blob=st.binary(max_size=4096))
def test_random_bytes(blob):
    _check(blob)


def _npz_with(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _npy_header(shape: tuple, descr: str) -> bytes:
    out = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()


def _sealed(changes: dict, npz_size: int | None = None) -> bytes:
    """The template manifest with ``changes`` to its arrays' spec, resealed (as an attacker
    who knows the format could)."""
    body = json.loads(MANIFEST)
    body.pop("manifest_xxh3")
    for name, spec in changes.items():
        body["arrays"][name] = spec
    if npz_size is not None:
        body["npz_size"] = npz_size
    return json.dumps(_seal(body)).encode()


@FUZZ
@given(
    dims=st.lists(st.integers(0, 2**40), min_size=0, max_size=4),
    descr=st.sampled_from(["<f8", "<i8", "|u1", "<c16", "|O", "<U10", ">f4", "V8"]),
    claim_same=st.booleans(),
)
def test_oversized_or_wrong_headers(dims, descr, claim_same):
    """An npy header that claims a huge or different array; the manifest agreeing with it
    or not. Nothing large is allocated and nothing wrong is returned."""
    shape = tuple(dims)
    member = _npy_header(shape, descr) + b"\0" * 64
    npz = _npz_with({"stack_total.npy": member})
    spec = {"dtype": descr, "shape": list(shape), "xxh3": "0" * 16}
    _check(npz, _sealed({"stack_total": spec} if claim_same else {}, npz_size=len(npz)))


@FUZZ
@given(
    name=st.sampled_from(sorted(ARRAYS)),
    dtype=st.sampled_from(["<f8", "<f4", "<i8", "|b1", ">f8", "<c16"]),
    shape=st.lists(st.integers(0, 40), max_size=3),
)
def test_manifest_spec_disagreeing_with_the_file(name, dtype, shape):
    spec = json.loads(MANIFEST)["arrays"][name]
    _check(NPZ, _sealed({name: {**spec, "dtype": dtype, "shape": shape}}))


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(MANIFEST) - 1), st.integers(0, 7)), min_size=1))
def test_manifest_bit_flips(flips):
    try:
        body = read_manifest_bytes(_flipped(MANIFEST, flips))
    except CheckpointError:
        return
    assert body == read_manifest_bytes(MANIFEST)


def read_manifest_bytes(data: bytes) -> dict:
    PATHS.manifest(1).write_bytes(data)
    return read_manifest(PATHS.manifest(1))


def test_a_pickle_in_the_file_is_never_loaded(tmp_path):
    """An object array (numpy pickles those) whose unpickling would create a file."""
    canary = tmp_path / "canary"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (canary,))

    payload = io.BytesIO()
    np.lib.format.write_array(payload, np.array([Boom()], dtype=object), allow_pickle=True)
    assert b"touch" in payload.getvalue()  # a real pickle payload
    npz = _npz_with({"stack_total.npy": payload.getvalue()})
    for changes in ({"stack_total": {"dtype": "|O", "shape": [1], "xxh3": "0" * 16}}, {}):
        _check(npz, _sealed(changes, npz_size=len(npz)))
    assert not canary.exists()


def test_store_load_falls_back_and_never_raises_on_garbage(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(ROOT, root)
    paths = RunPaths(root, "run")
    for g, blob in ((2, b"PK\x03\x04garbage"), (3, b"")):
        paths.npz(g).write_bytes(blob)
        paths.manifest(g).write_bytes(b'{"manifest_xxh3": "1"}' if g == 2 else b"\xff\xfe")
    PATHS.npz(1).write_bytes(NPZ)
    PATHS.manifest(1).write_bytes(MANIFEST)
    shutil.copy(PATHS.npz(1), paths.npz(1))
    shutil.copy(PATHS.manifest(1), paths.manifest(1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Store(paths, IDENTITY) as store:
            ckpt = store.load()
    assert ckpt is not None and ckpt.generation == 1
    assert sum(issubclass(w.category, CheckpointWarning) for w in caught) == 2
    assert np.array_equal(ckpt.arrays["buf_0"], ARRAYS["buf_0"])


@pytest.fixture(autouse=True, scope="module")
def _cleanup():
    yield
    shutil.rmtree(ROOT, ignore_errors=True)


# -- semantic fields: sealed manifests that verify but lie (issue 27, item 3) -------------


def _numbers(value, path=()):
    """Every numeric leaf of a manifest body, by its path of keys and indices."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "format":
                yield from _numbers(v, (*path, k))
    elif isinstance(value, list):
        for k, v in enumerate(value):
            yield from _numbers(v, (*path, k))


def _set(body, path, value):
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


LIES = [-1, -(2**62), 2**62, 1.5, "3", None, float("inf")]


@njit(parallel=True, cache=True)
def _harmonic(n):
    s = 0.0
    for i in prange(n):
        s += 1.0 / (i + 1.0)
    return s


def _interrupted_run(root):
    """A reduction killed after its second checkpoint; the kernel, its run's paths and
    the clock it ran with (a checkpoint after every chunk), for the calls that resume it."""
    from blockloop import checkpointed_loop

    kernel = checkpointed_loop(checkpoint_dir=root, interval=1.0)(_harmonic)
    clock = Ticks(1.0)
    with injected(kernel, clock=clock, store=crashing_store(2)), pytest.raises(Crash):
        kernel(400_000)
    return kernel, RunPaths(root, kernel.run_dir(400_000).name), clock


def test_a_sealed_manifest_with_a_lying_field_gives_checkpoint_error_or_the_right_bits(
    tmp_path,
):
    from blockloop import checkpointed_loop

    want = checkpointed_loop(checkpoint_dir=tmp_path / "never", interval=1e9)(_harmonic)(400_000)
    kernel, paths, clock = _interrupted_run(tmp_path / "run")
    newest = paths.generations()[-1]
    original = read_manifest(paths.manifest(newest))
    npz = paths.npz(newest).read_bytes()
    fields = list(_numbers(original))
    assert len(fields) >= 10
    tried = 0
    for path in fields:
        for lie in LIES:
            for stale in paths.run_dir.glob("ckpt-*"):  # only the lying generation is there
                stale.unlink()
            body = json.loads(json.dumps(original))
            _set(body, path, lie)
            paths.manifest(newest).write_bytes(sealed_bytes(body))
            paths.npz(newest).write_bytes(npz)
            with warnings.catch_warnings(), injected(kernel, clock=clock):
                warnings.simplefilter("ignore", CheckpointWarning)
                try:
                    got = kernel(400_000)
                except CheckpointError:
                    got = None
            assert got is None or got == want, (path, lie)
            tried += 1
    assert tried == len(fields) * len(LIES)


def test_a_reduction_stack_of_another_dtype_is_refused_not_cast(tmp_path):
    kernel, paths, clock = _interrupted_run(tmp_path)
    newest = paths.generations()[-1]
    body = read_manifest(paths.manifest(newest))
    arrays = dict(np.load(paths.npz(newest), allow_pickle=False))
    stacks = [k for k in arrays if k.startswith("stack_")]
    assert stacks
    for name in stacks:
        arrays[name] = arrays[name].astype(np.float32)
    identity = Identity.from_json(body["identity"])
    with Store(paths, identity) as store:  # a newer generation, sealed and checksummed
        store.load()
        generation, _ = store.save(arrays, RunState.from_json(body))
    assert generation == newest + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)
        with injected(kernel, clock=clock), pytest.raises(CheckpointError, match="float32"):
            kernel(400_000)
