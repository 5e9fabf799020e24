"""game.dataset.quickdraw: each of Google's formats, on small files written here and on the real shared data."""
import gzip
import json
import struct

import numpy as np
import pytest

from game.dataset.quickdraw import iter_binary, iter_ndjson, read_numpy_bitmap, write_binary

from conftest import SHARED

SIMPLIFIED = [
    {"word": "cat", "countrycode": "US", "timestamp": "2017-03-21 13:02:16.24617 UTC", "recognized": True,
     "key_id": "5159910851477504", "drawing": [[[0, 10, 255], [5, 0, 200]], [[7], [9]]]},
    {"word": "cat", "countrycode": "DE", "timestamp": "2017-01-27 20:10:45.1 UTC", "recognized": False,
     "key_id": "18446744073709551615", "drawing": [[[1, 2], [3, 4]]]},
    {"word": "cat", "countrycode": "GB", "timestamp": "2017-03-09 00:00:01 UTC", "recognized": True,
     "key_id": "1", "drawing": []},
]
RAW = [
    {"word": "cat", "countrycode": "FR", "timestamp": "2017-03-21 13:02:16.24617 UTC", "recognized": True,
     "key_id": "42", "drawing": [[[401.5, 411, 950], [229, 225.25, 1200], [0, 17, 33]]]},
]


def write_ndjson(path, records, opener=open, tail=""):
    with opener(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        f.write(tail)
    return path


# --- ndjson -----------------------------------------------------------------------------------------

def test_ndjson_simplified_and_raw_round_trip(tmp_path):
    assert list(iter_ndjson(write_ndjson(tmp_path / "cat.ndjson", SIMPLIFIED))) == SIMPLIFIED
    raw = list(iter_ndjson(write_ndjson(tmp_path / "raw.ndjson", RAW)))
    assert raw == RAW and len(raw[0]["drawing"][0]) == 3  # x, y, t kept


def test_ndjson_gzip(tmp_path):
    assert list(iter_ndjson(write_ndjson(tmp_path / "cat.ndjson.gz", SIMPLIFIED, gzip.open))) == SIMPLIFIED
    # recognized by content, not by name
    assert list(iter_ndjson(write_ndjson(tmp_path / "misnamed.ndjson", RAW, gzip.open))) == RAW


def test_ndjson_limit_and_blank_lines(tmp_path):
    path = write_ndjson(tmp_path / "cat.ndjson", SIMPLIFIED, tail="\n  \n")
    assert list(iter_ndjson(path, limit=2)) == SIMPLIFIED[:2]
    assert list(iter_ndjson(path, limit=0)) == []
    assert list(iter_ndjson(path, limit=99)) == SIMPLIFIED


@pytest.mark.parametrize("opener", [open, gzip.open])
def test_ndjson_streams_instead_of_loading(tmp_path, opener):
    # Line 3 is broken: a reader that parsed the whole file first would fail before yielding anything.
    path = write_ndjson(tmp_path / "big.ndjson", SIMPLIFIED[:2], opener, tail="{broken\n")
    assert list(iter_ndjson(path, limit=2)) == SIMPLIFIED[:2]
    records = iter_ndjson(path)
    assert next(records) == SIMPLIFIED[0]
    assert next(records) == SIMPLIFIED[1]
    with pytest.raises(ValueError, match=r"big\.ndjson: line 3"):
        next(records)


@pytest.mark.parametrize("bad, why", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "not a Quick, Draw! record"),
    ('{"word": "cat"}', "not a Quick, Draw! record"),
    ('{"word": "cat", "drawing": "no"}', "not a Quick, Draw! record"),
])
def test_ndjson_malformed_line_names_file_and_line(tmp_path, bad, why):
    path = write_ndjson(tmp_path / "bad.ndjson", SIMPLIFIED[:1], tail="\n" + bad + "\n")
    with pytest.raises(ValueError, match=rf"bad\.ndjson: line 3: {why}"):
        list(iter_ndjson(path))


def test_ndjson_undecodable_bytes(tmp_path):
    path = tmp_path / "latin.ndjson"
    path.write_bytes(json.dumps(SIMPLIFIED[0]).encode() + b"\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"latin\.ndjson"):
        list(iter_ndjson(path))


# --- numpy_bitmap -----------------------------------------------------------------------------------

def test_numpy_bitmap_is_memory_mapped(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, size=(5, 784), dtype=np.uint8)
    np.save(tmp_path / "cat.npy", data)
    bitmaps = read_numpy_bitmap(tmp_path / "cat.npy")
    assert isinstance(bitmaps, np.memmap) and not bitmaps.flags.writeable
    assert bitmaps.dtype == np.uint8 and bitmaps.shape == (5, 784)
    np.testing.assert_array_equal(bitmaps, data)


@pytest.mark.parametrize("array, match", [
    (np.zeros((3, 784), np.float32), "dtype uint8, found float32"),
    (np.zeros((3, 28, 28), np.uint8), r"shape \(N, 784\), found \(3, 28, 28\)"),
    (np.zeros((3, 785), np.uint8), r"found \(3, 785\)"),
])
def test_numpy_bitmap_wrong_dtype_or_shape(tmp_path, array, match):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(ValueError, match=match):
        read_numpy_bitmap(tmp_path / "x.npy")


def test_numpy_bitmap_not_npy(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"this is not numpy")
    with pytest.raises(ValueError, match=r"x\.npy: not a readable \.npy"):
        read_numpy_bitmap(tmp_path / "x.npy")


# --- binary -----------------------------------------------------------------------------------------

def test_binary_round_trip(tmp_path):
    path = tmp_path / "cat.bin"
    assert write_binary(iter(SIMPLIFIED), path) == 3
    back = list(iter_binary(path))
    # Binary keeps whole seconds, so timestamps come back in Google's text form without the fraction.
    expected_ts = ["2017-03-21 13:02:16 UTC", "2017-01-27 20:10:45 UTC", "2017-03-09 00:00:01 UTC"]
    assert [r["timestamp"] for r in back] == expected_ts
    for got, want in zip(back, SIMPLIFIED):
        assert got == {**want, "timestamp": got["timestamp"]}
        assert isinstance(got["key_id"], str) and isinstance(got["recognized"], bool)
    assert [r["key_id"] for r in iter_binary(path, word="x", limit=2)] == ["5159910851477504", "18446744073709551615"]
    assert {r["word"] for r in iter_binary(path, word="kitty")} == {"kitty"}


def test_binary_layout_is_googles(tmp_path):
    """Bytes as Google documents them, packed by hand: little-endian Q, 2s, B, I, H, then per stroke H, x[n], y[n]."""
    record = {"word": "cat", "countrycode": "US", "timestamp": "2017-03-21 13:02:16.24617 UTC",
              "recognized": True, "key_id": "5159910851477504", "drawing": [[[0, 10, 255], [5, 0, 200]], [[7], [9]]]}
    expected = (struct.pack("<Q", 5159910851477504) + b"US" + struct.pack("<B", 1) + struct.pack("<I", 1490101336)
                + struct.pack("<H", 2) + struct.pack("<H", 3) + bytes([0, 10, 255, 5, 0, 200])
                + struct.pack("<H", 1) + bytes([7, 9]))
    write_binary([record], tmp_path / "cat.bin")
    assert (tmp_path / "cat.bin").read_bytes() == expected
    # and a file packed by hand reads back
    (tmp_path / "hand.bin").write_bytes(expected * 2)
    assert [r["drawing"] for r in iter_binary(tmp_path / "hand.bin")] == [record["drawing"]] * 2


@pytest.mark.parametrize("keep, whole_drawings", [
    (29 + 22, 1),  # drawing 1 is 29 bytes, drawing 2 is 23: cut inside drawing 2's y coordinates
    (29 + 18, 1),  # inside drawing 2's stroke length
    (29 + 3, 1),   # inside drawing 2's 17-byte header
    (20, 0),       # inside drawing 1's first x coordinates
])
def test_binary_truncated(tmp_path, keep, whole_drawings):
    path = tmp_path / "cat.bin"
    write_binary(SIMPLIFIED[:2], path)
    assert path.stat().st_size == 29 + 23
    path.write_bytes(path.read_bytes()[:keep])
    records = iter_binary(path)
    assert [next(records)["key_id"] for _ in range(whole_drawings)] == [r["key_id"] for r in SIMPLIFIED[:whole_drawings]]
    with pytest.raises(ValueError, match=rf"cat\.bin: truncated in drawing {whole_drawings + 1}"):
        next(records)


def test_binary_empty_file(tmp_path):
    (tmp_path / "empty.bin").write_bytes(b"")
    assert list(iter_binary(tmp_path / "empty.bin")) == []


@pytest.mark.parametrize("change, match", [
    ({"drawing": [[[0, 300], [0, 0]]]}, "integers 0-255"),
    ({"drawing": [[[0, 1.5], [0, 0]]]}, "integers 0-255"),
    ({"drawing": [[[0, 1], [0]]]}, "2 x but 1 y"),
    ({"drawing": RAW[0]["drawing"]}, "simplified strokes"),
    ({"countrycode": "USA"}, "countrycode"),
    ({"key_id": str(2**64)}, "uint64"),
    ({"timestamp": "yesterday"}, "timestamp"),
])
def test_write_binary_rejects_what_does_not_fit(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        write_binary([SIMPLIFIED[0], {**SIMPLIFIED[1], **change}], tmp_path / "x.bin")


# --- the real data ----------------------------------------------------------------------------------

def test_real_quickdraw_files(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"Quick, Draw! data not found at {SHARED}")
    simplified = list(iter_ndjson(SHARED / "simplified" / "alarm clock.ndjson"))
    assert len(simplified) >= 10
    for r in simplified:
        assert r["word"] == "alarm clock" and len(r["countrycode"]) == 2 and r["key_id"].isdigit()
        assert all(len(s) == 2 and len(s[0]) == len(s[1]) for s in r["drawing"])
        assert all(0 <= v <= 255 for s in r["drawing"] for axis in s for v in axis)

    raw = list(iter_ndjson(SHARED / "raw" / "alarm clock.ndjson", limit=3))
    assert len(raw) == 3 and all(len(s) == 3 for r in raw for s in r["drawing"])  # x, y, t

    index = json.loads((SHARED / "numpy_bitmap" / "index.json").read_text())
    bitmaps = read_numpy_bitmap(SHARED / "numpy_bitmap" / "alarm clock.npy")
    info = index["alarm clock"]
    assert bitmaps.shape == (info["google_rows"] + info["extra_rows_unknown_order"], 784)
    assert 0 < bitmaps[:100].mean() < 255

    # binary: Google's simplified drawings survive a write -> read exactly
    assert write_binary(simplified, tmp_path / "alarm clock.bin") == len(simplified)
    back = list(iter_binary(tmp_path / "alarm clock.bin"))
    assert [(r["key_id"], r["countrycode"], r["recognized"], r["drawing"]) for r in back] == \
           [(r["key_id"], r["countrycode"], r["recognized"], r["drawing"]) for r in simplified]
    assert all(b["timestamp"] == s["timestamp"].split(".")[0] + " UTC" for b, s in zip(back, simplified))
