"""Google's Quick, Draw! ndjson files, read for the data browser (no Flask, no training/).

A folder laid out like Google's bucket (`raw/<word>.ndjson`, `simplified/<word>.ndjson`,
e.g. /work/shared/quickdraw) is browsed in place, never loaded whole:

    folder = QuickDrawFolder("/work/shared/quickdraw")
    folder.line_count("cat", "raw")              # streamed once, cached until the file changes
    folder.total("cat", recognized=True)         # drawings the browser lists
    folder.page("cat", offset=48, limit=48)      # records, with "format": "raw" or "simplified"

A word's listing is its raw drawings (they keep their timing), then the simplified ones
whose key_id has no raw drawing: Google publishes the same drawing in both formats, and
the browser shows it once. The listing is an index of byte offsets built on first use,
so a page reads only its own lines.
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

FORMATS = ("raw", "simplified")  # the listing's order: raw first
# Google writes key_id and recognized on every line; a regex finds them without parsing
# the drawing, which is most of the line.
_KEY_ID = re.compile(rb'"key_id"\s*:\s*"?(\d+)')
_RECOGNIZED = re.compile(rb'"recognized"\s*:\s*(true|false)')


class QuickDrawFolder:
    """The ndjson files under `root`. Thread-safe; caches keyed by each file's size and
    mtime, so a replaced file is read again."""

    def __init__(self, root: str | os.PathLike, cached_words: int = 32):
        self.root = Path(root)
        self.cached_words = cached_words  # listings kept (their offsets cost memory)
        self._counts: dict[Path, tuple[tuple, int]] = {}
        self._listings: OrderedDict[str, tuple[tuple, list]] = OrderedDict()
        self._lock = threading.Lock()

    def path(self, word: str, fmt: str) -> Path:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        return self.root / fmt / f"{word}.ndjson"

    def line_count(self, word: str, fmt: str) -> int:
        """The drawings in `<fmt>/<word>.ndjson` (its non-blank lines); 0 when absent."""
        path = self.path(word, fmt)
        stamp = _stamp(path)
        if stamp is None:
            return 0
        with self._lock:
            cached = self._counts.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        with open(path, "rb") as f:  # streamed: a Google file is hundreds of MB
            count = sum(1 for line in f if line.strip())
        with self._lock:
            self._counts[path] = (stamp, count)
        return count

    def total(self, word: str, recognized: bool | None = None) -> int:
        """How many drawings the word's listing holds (raw, then simplified without a raw twin)."""
        entries = self._listing(word)
        if recognized is None:
            return len(entries)
        return sum(1 for e in entries if e[2] is recognized)

    def page(self, word: str, offset: int, limit: int, recognized: bool | None = None) -> list[dict]:
        """Google's records `offset`..`offset + limit` of the listing, each with "format"."""
        entries = self._listing(word)
        if recognized is not None:
            entries = [e for e in entries if e[2] is recognized]
        chosen = entries[offset:offset + limit] if offset >= 0 and limit > 0 else []
        records: list[dict] = []
        handles = {}
        try:
            for fmt, at, _ in chosen:
                if fmt not in handles:
                    handles[fmt] = open(self.path(word, fmt), "rb")
                f = handles[fmt]
                f.seek(at)
                try:
                    record = json.loads(f.readline())
                except ValueError:
                    continue  # a damaged line: the rest of the page still shows
                if isinstance(record, dict) and isinstance(record.get("drawing"), list):
                    record["format"] = fmt
                    records.append(record)
        finally:
            for f in handles.values():
                f.close()
        return records

    def _listing(self, word: str) -> list[tuple[str, int, bool]]:
        """(format, byte offset, recognized) of each drawing the browser lists, in order."""
        stamp = tuple(_stamp(self.path(word, fmt)) for fmt in FORMATS)
        with self._lock:
            cached = self._listings.get(word)
            if cached and cached[0] == stamp:
                self._listings.move_to_end(word)
                return cached[1]
        entries: list[tuple[str, int, bool]] = []
        seen: set[bytes] = set()
        for fmt, exists in zip(FORMATS, stamp):
            if exists is None:
                continue
            for at, key_id, recognized in _scan(self.path(word, fmt)):
                if key_id in seen:
                    continue  # the raw twin is listed already
                if fmt == "raw":
                    seen.add(key_id)
                entries.append((fmt, at, recognized))
        with self._lock:
            self._listings[word] = (stamp, entries)
            self._listings.move_to_end(word)
            while len(self._listings) > self.cached_words:
                self._listings.popitem(last=False)
        return entries


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _scan(path: Path):
    """(byte offset, key_id, recognized) of each drawing line; lines that are not a
    Quick, Draw! record are left out."""
    with open(path, "rb") as f:
        at = 0
        for line in f:
            start, at = at, at + len(line)
            if not line.strip():
                continue
            key_id, recognized = _KEY_ID.search(line), _RECOGNIZED.search(line)
            if key_id and recognized:
                yield start, key_id.group(1), recognized.group(1) == b"true"
                continue
            try:  # another writer's layout: parse the line after all
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("drawing"), list):
                yield start, str(record.get("key_id", start)).encode(), bool(record.get("recognized"))
