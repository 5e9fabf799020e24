"""Readers (and one writer) for the file formats Google publishes Quick, Draw! in.

Google's bucket holds each word in four formats; all four are read here:

- ``simplified/<word>.ndjson`` and ``raw/<word>.ndjson`` (optionally ``.ndjson.gz``):
  one JSON object per line -> :func:`iter_ndjson`.
- ``numpy_bitmap/<word>.npy``: uint8 ``(N, 784)`` 28x28 bitmaps -> :func:`read_numpy_bitmap`.
- ``binary/<word>.bin``: packed simplified drawings -> :func:`iter_binary` / :func:`write_binary`.

Every record reader yields the same dict shape as Google's ndjson::

    {"word": str, "countrycode": str, "timestamp": str, "recognized": bool,
     "key_id": str, "drawing": [[[x...], [y...]] or [[x...], [y...], [t...]], ...]}

Files run to hundreds of MB a word, so readers stream rather than load.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import struct
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

__all__ = ["iter_ndjson", "read_numpy_bitmap", "iter_binary", "write_binary", "split_of", "BITMAP_PIXELS"]

BITMAP_PIXELS = 28 * 28

# Google's binary layout, little-endian: key_id uint64, countrycode 2 chars,
# recognized uint8, timestamp uint32 (unix seconds), n_strokes uint16.
_HEADER = struct.Struct("<Q2sBIH")
_UINT16 = struct.Struct("<H")
# The text form of timestamps in Google's ndjson (BigQuery's): the fraction of a
# second drops trailing zeros, and is absent when zero.
_TS_FORMATS = ("%Y-%m-%d %H:%M:%S.%f UTC", "%Y-%m-%d %H:%M:%S UTC")


def iter_ndjson(path: str | Path, limit: int | None = None, shard: tuple[int, int] = (0, 1)) -> Iterator[dict]:
    """Yield Google's ndjson records one line at a time (plain or gzip, simplified or raw).

    Streaming: only the lines consumed are read, so ``limit`` (or stopping early)
    costs nothing for the rest of a large file. Blank lines are skipped. ``shard=(i, n)``
    yields only lines i, i + n, i + 2n, ... (counted from 0), the others not even parsed: one
    of n processes' share of a file.
    """
    index, count_of = shard
    path = Path(path)
    if limit is not None and limit <= 0:
        return
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"  # sniff, so a misnamed .gz still reads
    opener = gzip.open if gzipped else open
    count = 0
    with opener(path, "rt", encoding="utf-8") as f:
        lineno = 0
        while True:
            try:
                line = f.readline()
            except (UnicodeDecodeError, OSError, EOFError) as e:
                raise ValueError(f"{path}: line {lineno + 1}: cannot read: {e}") from e
            if not line:
                return
            lineno += 1
            if (lineno - 1) % count_of != index or not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {lineno}: not valid JSON: {e.msg}") from e
            if not isinstance(record, dict) or not isinstance(record.get("drawing"), list):
                raise ValueError(f"{path}: line {lineno}: not a Quick, Draw! record (needs a 'drawing' list)")
            yield record
            count += 1
            if limit is not None and count >= limit:
                return


def read_numpy_bitmap(path: str | Path) -> np.ndarray:
    """Open Google's numpy_bitmap ``.npy`` as a read-only memory map of uint8 ``(N, 784)``.

    Memory-mapped because a word holds up to ~300k rows; slicing reads only those rows.
    """
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy file: {e}") from e
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: numpy_bitmap must have dtype uint8, found {array.dtype}")
    if array.ndim != 2 or array.shape[1] != BITMAP_PIXELS:
        raise ValueError(f"{path}: numpy_bitmap must have shape (N, {BITMAP_PIXELS}), found {array.shape}")
    return array


def _format_timestamp(seconds: int) -> str:
    """Unix seconds -> Google's ndjson text form (no fraction: binary keeps whole seconds)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parse_timestamp(value) -> int:
    """Google's ndjson timestamp text, a datetime or a number -> whole unix seconds."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(dt.timestamp())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        for fmt in _TS_FORMATS:
            try:
                return int(datetime.strptime(value, fmt).replace(tzinfo=timezone.utc).timestamp())
            except ValueError:
                pass
    raise ValueError(f"unrecognized timestamp {value!r}")


def iter_binary(path: str | Path, word: str | None = None, limit: int | None = None) -> Iterator[dict]:
    """Yield the drawings of Google's binary ``.bin`` file as ndjson-shaped dicts.

    The format has no word field, so ``word`` defaults to the file name's stem
    (Google names files ``<word>.bin``). ``key_id`` comes back as a string and
    ``timestamp`` as Google's text form "YYYY-MM-DD HH:MM:SS UTC" (whole seconds,
    all the binary format stores), so records match :func:`iter_ndjson`'s.
    A file that ends inside a drawing raises ValueError.
    """
    path = Path(path)
    word = path.stem if word is None else word
    count = 0

    def read(f, n: int, what: str) -> bytes:
        data = f.read(n)
        if len(data) != n:
            raise ValueError(f"{path}: truncated in drawing {count + 1} ({what}) at byte {f.tell()}")
        return data

    with open(path, "rb") as f:
        while limit is None or count < limit:
            first = f.read(1)
            if not first:
                return  # clean end of file, on a drawing boundary
            header = first + read(f, _HEADER.size - 1, "header")
            key_id, country, recognized, seconds, n_strokes = _HEADER.unpack(header)
            drawing = []
            for _ in range(n_strokes):
                (n_points,) = _UINT16.unpack(read(f, 2, "stroke length"))
                xs = list(read(f, n_points, "x coordinates"))
                ys = list(read(f, n_points, "y coordinates"))
                drawing.append([xs, ys])
            yield {
                "word": word,
                "countrycode": country.decode("ascii", errors="replace"),
                "timestamp": _format_timestamp(seconds),
                "recognized": bool(recognized),
                "key_id": str(key_id),
                "drawing": drawing,
            }
            count += 1


def write_binary(records: Iterable[dict], path: str | Path) -> int:
    """Write ndjson-shaped records in Google's binary format; return how many were written.

    For tests, and for shrinking simplified ndjson (binary is ~4x smaller). Only
    simplified drawings fit: strokes ``[[x...], [y...]]`` with integers 0-255.
    ``timestamp`` may be Google's text form, a datetime or unix seconds; the
    fraction of a second is dropped. Raises ValueError on anything that doesn't fit.
    """
    path = Path(path)
    count = 0
    with open(path, "wb") as f:
        for count, record in enumerate(records, 1):
            try:
                f.write(_pack(record))
            except KeyError as e:
                raise ValueError(f"record {count}: missing field {e}") from e
            except (ValueError, TypeError, struct.error) as e:
                raise ValueError(f"record {count} (key_id {record.get('key_id')!r}): {e}") from e
    return count


def _pack(record: dict) -> bytes:
    key_id = int(record["key_id"])
    if not 0 <= key_id < 2**64:
        raise ValueError(f"key_id {key_id} does not fit uint64")
    country = str(record["countrycode"]).encode("ascii")
    if len(country) != 2:
        raise ValueError(f"countrycode must be 2 ASCII characters, got {record['countrycode']!r}")
    seconds = _parse_timestamp(record["timestamp"])
    if not 0 <= seconds < 2**32:
        raise ValueError(f"timestamp {record['timestamp']!r} does not fit uint32 seconds")
    strokes = record["drawing"]
    if len(strokes) >= 2**16:
        raise ValueError(f"{len(strokes)} strokes; the format holds at most 65535")
    parts = [_HEADER.pack(key_id, country, int(bool(record["recognized"])), seconds, len(strokes))]
    for stroke in strokes:
        if len(stroke) != 2:
            raise ValueError("binary holds simplified strokes [[x...], [y...]] only (raw strokes carry times)")
        xs, ys = stroke
        if len(xs) != len(ys):
            raise ValueError(f"stroke has {len(xs)} x but {len(ys)} y coordinates")
        if len(xs) >= 2**16:
            raise ValueError(f"stroke of {len(xs)} points; the format holds at most 65535")
        try:
            parts += [_UINT16.pack(len(xs)), bytes(xs), bytes(ys)]
        except (ValueError, TypeError) as e:
            raise ValueError(f"coordinates must be integers 0-255 (simplified drawings): {e}") from e
    return b"".join(parts)


def split_of(identity: str) -> str:
    """Stable 80/10/10 train/val/test split from a drawing's identity (its key_id, or
    word/source/row): training holds out by it, and the benchmarks and replays read it."""
    h = int.from_bytes(hashlib.sha1(identity.encode()).digest()[:4], "little") % 100
    return "test" if h < 10 else "val" if h < 20 else "train"
