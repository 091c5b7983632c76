"""The npz writer's own zip records: read back by zipfile and numpy, CRCs checked."""

from __future__ import annotations

import io
import zipfile
import zlib

import numpy as np

from blockloop.storage.npz import write_npz
from blockloop.storage.zips import StoredZip, crc32


def test_npz_reads_back_with_numpy_and_passes_zipfiles_crc_check(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {
        "scalar": np.array(2.5),
        "empty": np.empty((0, 3), np.float32),
        "fortran": np.asfortranarray(rng.random((5, 7))),
        "ints": rng.integers(-9, 9, size=(3, 4, 5), dtype=np.int16),
        "large": rng.random(3 << 20),  # 24 MiB: several write blocks and a writeback
        "record": np.zeros(4, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
    }
    path = tmp_path / "x.npz"
    with open(path, "wb") as f:
        digests = write_npz(f, arrays)
    assert set(digests) == set(arrays)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every member's CRC-32 checked against its data
        assert [i.filename for i in zf.infolist()] == [f"{k}.npy" for k in arrays]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    with np.load(path, allow_pickle=False) as loaded:
        for name, array in arrays.items():
            assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
            assert loaded[name].tobytes() == np.ascontiguousarray(array).tobytes()


def test_crc_is_zlibs():
    data = np.random.default_rng(1).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    assert crc32(data) == zlib.crc32(data)
    assert crc32(data[100:], crc32(data[:100])) == zlib.crc32(data)


def test_more_members_than_the_classic_end_record_counts():
    """Over 65535 members the count lives in the Zip64 end records only."""
    buffer = io.BytesIO()
    zf = StoredZip(buffer)
    count = 0x10000 + 3
    for k in range(count):
        zf.member(f"m{k}")
        zf.write(k.to_bytes(4, "little"))
    zf.close()
    with zipfile.ZipFile(buffer) as z:
        names = z.namelist()
        assert len(names) == count
        assert z.read(f"m{count - 1}") == (count - 1).to_bytes(4, "little")
        assert z.testzip() is None
