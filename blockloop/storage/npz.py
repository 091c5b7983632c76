"""Checkpoint arrays as ``.npz`` files: streamed out, checked in, never unpickled.

The files are the ones ``numpy.savez`` writes (uncompressed, one ``NAME.npy`` member per
array, no pickled objects), so ``numpy.load(f, allow_pickle=False)`` reads them without
blockloop. Reading trusts nothing in the file: every claim is checked against the
manifest before memory is allocated.
"""

from __future__ import annotations

import ast
import functools
import io
import math
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import xxhash

from .._errors import CheckpointError
from .durable import durable_write, fsync_dir
from .fingerprint import array_hash, byte_view
from .manifest import ArraySpec, Manifest
from .rundir import RunPaths, load_manifest
from .zips import StoredZip

__all__ = [
    "Checkpoint",
    "dtype_of",
    "dtype_text",
    "read_arrays",
    "read_pieces",
    "verify_generation",
    "write_npz",
    "write_part",
]


def dtype_text(dtype: np.dtype) -> str:
    """How a manifest writes an array's dtype: ``"<f8"``, or for records and other
    dtypes with fields the NumPy description of each field (``[('count', '<i8'), ...]``),
    which ``dtype.str`` (``"|V16"``) would lose."""
    if dtype.fields is None and dtype.subdtype is None:
        return dtype.str
    return repr(np.lib.format.dtype_to_descr(dtype))


def dtype_of(text: str) -> np.dtype:
    """The dtype a manifest's :func:`dtype_text` names (a literal: nothing is run).

    Raises
    ------
    ValueError
        For text that names no dtype.
    """
    if not text.startswith("["):
        return np.dtype(text)
    try:
        return np.lib.format.descr_to_dtype(ast.literal_eval(text))
    except (SyntaxError, TypeError, ValueError) as exc:
        raise ValueError(f"not a dtype: {text[:80]!r}") from exc


_MAX_HEADER = 16384


def read_arrays(path: Path, spec: Mapping[str, ArraySpec]) -> dict[str, np.ndarray]:
    """Read the arrays listed in ``spec`` from an npz, checking every claim before allocating.

    A header that disagrees with ``spec``, a truncated member or a checksum mismatch
    raises :class:`CheckpointError`.
    """
    out: dict[str, np.ndarray] = {}
    if path.is_symlink() or not path.is_file():  # a FIFO would block; a link is not ours
        raise CheckpointError(f"{path.name} is not a regular file")
    try:
        with zipfile.ZipFile(path) as zf:
            for name, meta in spec.items():
                dtype = dtype_of(meta.dtype)
                shape = meta.shape
                if dtype.hasobject:
                    raise CheckpointError(f"{path}: array {name!r} has an object dtype")
                nbytes = math.prod(shape) * dtype.itemsize
                try:
                    info = zf.getinfo(name + ".npy")
                except KeyError:
                    raise CheckpointError(f"{path}: array {name!r} is missing") from None
                if info.compress_type != zipfile.ZIP_STORED or info.file_size < nbytes:
                    raise CheckpointError(f"{path}: array {name!r} has the wrong size")
                with zf.open(info) as f:
                    expected = _header(dtype.str, shape)
                    if f.read(len(expected)) != expected:  # not as written here: parse it
                        f.seek(0)
                        _check_header(f, dtype, shape, f"{path}: array {name!r}")
                    array = np.empty(shape, dtype)
                    view = byte_view(array)
                    got = 0
                    while got < nbytes:
                        n = f.readinto(view[got:])  # type: ignore[attr-defined]
                        if not n:
                            raise CheckpointError(f"{path}: array {name!r} is truncated")
                        got += n
                if array_hash(array) != meta.xxh3:
                    raise CheckpointError(f"{path}: array {name!r} checksum mismatch")
                out[name] = array
    except CheckpointError:
        raise
    except Exception as exc:  # any failure to parse an untrusted file means it is damaged
        raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    return out


@functools.lru_cache(maxsize=256)
def _header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """The npy magic and header that :func:`write_npz` writes for an array."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _check_header(f: IO[bytes], dtype: np.dtype, shape: tuple[int, ...], what: str) -> None:
    """Parse an npy header that is not byte for byte ours (any version) and check it."""
    version = np.lib.format.read_magic(f)
    reader = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    hshape, fortran, hdtype = reader(f, max_header_size=_MAX_HEADER)
    if hshape != shape or hdtype != dtype or fortran:
        raise CheckpointError(f"{what} header says {hdtype}{hshape}, the manifest {dtype}{shape}")


# each block is hashed, CRC'd (ISA-L's CRC-32, see zips) and copied to the file while it is
# in the CPU's cache: one pass over memory instead of three (it matters when the loop beside
# the writer is memory-bound); writeback is started every few blocks
_WRITE_BLOCK = 1 << 20
_WRITEBACK_EVERY = 16 << 20


class _EarlyWriteback:
    """Asks the kernel to start writing back what ``f`` has received so far.

    ``posix_fadvise(DONTNEED)`` on a written range starts its writeback without waiting
    (and lets the pages leave the cache once clean), so the disk works while the next blocks
    are copied in and the final fsync has little left to wait for. Durability still comes
    from that fsync alone. A no-op where the call or a file descriptor is missing.
    """

    def __init__(self, f: BinaryIO | None) -> None:
        self.f, self.start, self.pending = f, 0, 0
        if f is None:
            self.fd = None
            return
        try:
            self.fd = f.fileno() if hasattr(os, "posix_fadvise") else None
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.fd = None

    def wrote(self, nbytes: int) -> None:
        """Note ``nbytes`` more written; start writeback once enough is pending."""
        self.pending += nbytes
        if self.fd is None or self.pending < _WRITEBACK_EVERY:
            return
        self.pending = 0
        assert self.f is not None
        self.f.flush()
        end = self.f.tell()
        try:
            os.posix_fadvise(self.fd, self.start, end - self.start, os.POSIX_FADV_DONTNEED)
        except OSError:  # advice only: the fsync still makes the file durable
            self.fd = None
        self.start = end


def write_npz(
    f: BinaryIO, arrays: dict[str, np.ndarray], early_writeback: bool = True
) -> dict[str, str]:
    """Write ``arrays`` as an uncompressed npz, streaming each array's memory (no copies).

    The same file ``numpy.savez`` would write, up to the zip's bookkeeping: one
    ``NAME.npy`` member per array, format 1.0 or 2.0 headers, no pickled objects.
    With ``early_writeback``, writeback to the disk starts as the file is written (for a
    file about to be fsynced); without it the page cache takes the file at memory speed
    and the system writes it back later.

    Returns
    -------
    dict
        Each array's :func:`~blockloop.storage.fingerprint.array_hash` (xxh3-64 of its bytes in
        C order), computed in the same pass as the write.
    """
    writeback = _EarlyWriteback(f if early_writeback else None)
    digests = {}
    zf = StoredZip(f)
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise ValueError(f"array {name!r} has an object dtype")
        a = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        header = io.BytesIO()
        fields = np.lib.format.header_data_from_array_1_0(a)
        try:
            np.lib.format.write_array_header_1_0(header, fields)
        except ValueError:  # header longer than format 1.0 allows
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(header, fields)
        zf.member(name + ".npy")
        zf.write(header.getvalue())
        digest = xxhash.xxh3_64()
        data = byte_view(a)
        for start in range(0, len(data), _WRITE_BLOCK):
            block = data[start : start + _WRITE_BLOCK]
            digest.update(block)
            zf.write(block)
            writeback.wrote(len(block))
        digests[name] = digest.hexdigest()
    zf.close()
    return digests


def read_pieces(
    npz_of: Callable[[int, int], Path], manifest: Manifest, own: dict[str, np.ndarray]
) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Every piece of ``manifest``'s piece sets, read and verified where it is held.

    ``own`` holds the arrays of the manifest's own npz (already verified); ``npz_of``
    names the npz file of another generation, or of another rank in a generation.
    """
    wanted: dict[tuple[int, int], dict[str, ArraySpec]] = {}
    for name, pieces in manifest.state.pieces.items():
        for p in pieces.pieces:
            if p.generation == manifest.generation and p.rank == 0:
                continue  # in this generation's own npz, read and verified above
            spec = ArraySpec(pieces.dtype, (p.length,), p.xxh3)
            place = wanted.setdefault((p.generation, p.rank), {})
            if place.setdefault(p.key, spec) != spec:
                raise CheckpointError(f"the pieces of {name} disagree about entry {p.key}")
    entries = {(manifest.generation, 0): own}
    for (generation, rank), specs in sorted(wanted.items()):
        entries[generation, rank] = read_arrays(npz_of(generation, rank), specs)
    out: dict[str, list[tuple[int, np.ndarray]]] = {}
    for name, pieces in manifest.state.pieces.items():
        size = int(np.prod(pieces.shape, dtype=np.int64))
        parts = out[name] = []
        for p in pieces.pieces:
            entry = entries[p.generation, p.rank].get(p.key)
            if entry is None or entry.shape != (p.length,) or p.stop > size:
                raise CheckpointError(f"a piece of {name} does not fit its entry {p.key}")
            parts.append((p.start, entry[p.offset : p.offset + p.stop - p.start]))
    return out


def write_part(path: Path, arrays: dict[str, np.ndarray], who: str) -> dict[str, str]:
    """Write one rank's part of a generation durably; each entry's xxh3.

    In a run over several MPI ranks, each rank writes the rows it computed to a file of
    its own (``ckpt-00000g.r0001.npz``); the generation exists once rank 0's manifest,
    written after every rank's file is durable, refers to them. A file whose manifest
    never came is deleted with the generations retired after it.

    Raises
    ------
    CheckpointError
        If the file cannot be written.
    """
    digests: dict[str, str] = {}
    try:
        durable_write(path, lambda f: digests.update(write_npz(f, arrays)), "npz")
        fsync_dir(path.parent)
    except OSError as exc:
        raise CheckpointError(
            f"{who} cannot write its part of the checkpoint, {path}: {exc.strerror or exc}; "
            "the previous checkpoint is intact"
        ) from None
    return digests


@dataclass
class Checkpoint:
    """One verified generation: its manifest and its arrays."""

    generation: int
    manifest: Manifest
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    pieces: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict)
    """Arrays saved in pieces: ``(first flat element, values)`` for each piece."""


def verify_generation(
    paths: RunPaths, generation: int, manifest: Manifest | None = None
) -> Checkpoint:
    """Read one generation and verify every checksum; raise :class:`CheckpointError` if bad."""
    if manifest is None:
        manifest = load_manifest(paths.manifest(generation))
    npz = paths.npz(generation)
    try:
        size = npz.stat().st_size
    except OSError:
        raise CheckpointError(f"{npz.name} is missing") from None
    if size != manifest.npz_size:
        raise CheckpointError(
            f"{npz.name} is {size} bytes, the manifest says {manifest.npz_size} (truncated?)"
        )
    arrays = read_arrays(npz, manifest.arrays)
    return Checkpoint(generation, manifest, arrays, read_pieces(paths.npz, manifest, arrays))
