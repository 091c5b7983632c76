"""A minimal zip writer for uncompressed (stored) members, as ``.npz`` files need.

Python's :mod:`zipfile` computes each member's CRC-32 with zlib's (about 2 GB/s here, as
much CPU as the copy itself) and costs ~50 us of bookkeeping per member, which a small
call's completion record pays three times. This writer takes the CRC-32 from ISA-L
(``isal``, ~15 GB/s, the same values; zlib's when it is missing) and writes the records
itself, in one forward pass: every member with Zip64 sizes (so any member may exceed
4 GiB) and its CRC and sizes in a data descriptor after its data (as zip writes to a
stream), then the central directory and the end records (Zip64 ones where the directory
needs them). :mod:`zipfile` and ``numpy.load`` read the result; the reading side stays
theirs.
"""

from __future__ import annotations

import struct
import time
from typing import BinaryIO

try:
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal has wheels for the usual platforms
    from zlib import crc32

__all__ = ["StoredZip", "crc32"]

_VERSION = 45  # 4.5: Zip64
_MADE_BY = (3 << 8) | _VERSION  # Unix
_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EXTRA_LOCAL = struct.Struct("<HHQQ")  # Zip64 extra: id 1, 16 bytes, sizes (0: below)
_DESCRIPTOR = struct.Struct("<IIQQ")  # after the data: CRC and Zip64 sizes
_DESCRIBED = 0x08  # flag: CRC and sizes are in the data descriptor
_UTF8 = 0x800  # flag: the name is UTF-8 (a kernel's names may be ``arr_φ``)
_EXTRA_CENTRAL = struct.Struct("<HHQQQ")  # id 1, 24 bytes: sizes, then the header's offset
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_FULL = 0xFFFFFFFF


def _dos_time(seconds: float) -> tuple[int, int]:
    t = time.localtime(seconds)
    date = ((max(t.tm_year, 1980) - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), date


class StoredZip:
    """Write a zip archive of stored members to ``f``, a seekable binary file.

    Use :meth:`member` to begin a member, :meth:`write` for its data (any number of
    calls), and :meth:`close` once after the last member, which writes the directory.
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.base = f.tell()
        self.entries: list[tuple[bytes, int, int, int]] = []  # name, offset, size, crc
        self.dos_time, self.dos_date = _dos_time(time.time())
        self._open: list | None = None  # [name, offset, size, crc]

    def member(self, name: str) -> None:
        """End the member being written, if any, and begin one called ``name``."""
        self._end_member()
        raw = name.encode("utf-8")
        offset = self.f.tell() - self.base
        fields = (0x04034B50, _VERSION, _flags(raw), 0, self.dos_time, self.dos_date, 0)
        sizes = (_FULL, _FULL, len(raw), _EXTRA_LOCAL.size)
        self.f.write(_LOCAL.pack(*fields, *sizes) + raw + _EXTRA_LOCAL.pack(1, 16, 0, 0))
        self._open = [raw, offset, 0, 0]

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` to the current member."""
        entry = self._open
        assert entry is not None, "write() before member()"
        entry[3] = crc32(data, entry[3])
        entry[2] += len(data)
        self.f.write(data)

    def close(self) -> None:
        """End the last member and write the central directory and the end records."""
        self._end_member()
        f = self.f
        start = f.tell() - self.base
        for raw, offset, size, crc in self.entries:
            flags = _flags(raw)
            fields = (0x02014B50, _MADE_BY, _VERSION, flags, 0, self.dos_time, self.dos_date)
            rest = (crc, _FULL, _FULL, len(raw), _EXTRA_CENTRAL.size, 0, 0, 0, _MODE, _FULL)
            extra = _EXTRA_CENTRAL.pack(1, 24, size, size, offset)
            f.write(_CENTRAL.pack(*fields, *rest) + raw + extra)
        end64 = f.tell() - self.base
        count, size_cd = len(self.entries), end64 - start
        if count > 0xFFFF or max(size_cd, start) >= _FULL:  # Zip64 end records, as zip's
            f.write(
                _END64.pack(0x06064B50, 44, _MADE_BY, _VERSION, 0, 0, count, count, size_cd, start)
                + _LOCATOR64.pack(0x07064B50, 0, end64, 1)
            )
        counts = (min(count, 0xFFFF), min(count, 0xFFFF))
        f.write(_END.pack(0x06054B50, 0, 0, *counts, min(size_cd, _FULL), min(start, _FULL), 0))

    def _end_member(self) -> None:
        """Write the finished member's data descriptor."""
        if self._open is None:
            return
        raw, offset, size, crc = self._open
        self._open = None
        self.f.write(_DESCRIPTOR.pack(0x08074B50, crc, size, size))
        self.entries.append((raw, offset, size, crc))


def _flags(raw: bytes) -> int:
    """A member's general purpose flags: the data descriptor, and UTF-8 for a name that
    is not ASCII (as zip and Python's zipfile read it)."""
    return _DESCRIBED | (_UTF8 if not raw.isascii() else 0)
