"""training.download against a local HTTP server that mimics the bucket (Range requests included)."""
import argparse
import os
import socket
import threading
import urllib.error
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from training import download as dl
from game.dataset.quickdraw import read_numpy_bitmap


class BucketHandler(BaseHTTPRequestHandler):
    """Serves server.root under /full/, honouring 'Range: bytes=N-' unless server.ignore_range."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        prefix = "/full/"
        path = server.root / urllib.parse.unquote(self.path[len(prefix):]) if self.path.startswith(prefix) else None
        if path is None or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not server.ignore_range:
            start = int(range_header.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.break_after is not None:  # promise the whole body, send part of it, hang up
            body, server.break_after = body[:server.break_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def bucket(tmp_path):
    """A fake bucket: returns (base_url, server); write files under server.root/<format>/."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BucketHandler)
    server.root = tmp_path / "bucket"
    server.requests, server.ignore_range, server.break_after = [], False, None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/full", server
    server.shutdown()
    server.server_close()
    thread.join()


def put(server, rel, data: bytes) -> bytes:
    path = server.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


def test_downloads_each_word_into_format_folder(bucket, out):
    base_url, server = bucket
    cat = put(server, "simplified/cat.ndjson", os.urandom(300_000))
    dog = put(server, "simplified/dog.ndjson", os.urandom(1000))
    paths = dl.download(["cat", "dog"], "simplified", out, base_url=base_url, progress=False)
    assert paths == [out / "simplified" / "cat.ndjson", out / "simplified" / "dog.ndjson"]
    assert paths[0].read_bytes() == cat and paths[1].read_bytes() == dog
    assert sorted(p.name for p in (out / "simplified").iterdir()) == ["cat.ndjson", "dog.ndjson"]  # no .part left
    assert server.requests == [("/full/simplified/cat.ndjson", None), ("/full/simplified/dog.ndjson", None)]


def test_numpy_bitmap_word_with_space_is_url_quoted(bucket, out, tmp_path):
    base_url, server = bucket
    bitmaps = np.random.default_rng(1).integers(0, 256, size=(7, 784), dtype=np.uint8)
    np.save(tmp_path / "a.npy", bitmaps)
    put(server, "numpy_bitmap/alarm clock.npy", (tmp_path / "a.npy").read_bytes())
    [path] = dl.download(["alarm clock"], "numpy_bitmap", out, base_url=base_url, progress=False)
    assert server.requests == [("/full/numpy_bitmap/alarm%20clock.npy", None)]
    assert path == out / "numpy_bitmap" / "alarm clock.npy"
    np.testing.assert_array_equal(read_numpy_bitmap(path), bitmaps)


def test_format_paths_and_urls():
    assert dl.BASE_URL == "https://storage.googleapis.com/quickdraw_dataset/full"
    assert dl.url_for("alarm clock", "raw") == f"{dl.BASE_URL}/raw/alarm%20clock.ndjson"
    assert dl.url_for("cat", "simplified") == f"{dl.BASE_URL}/simplified/cat.ndjson"
    assert dl.url_for("cat", "numpy_bitmap") == f"{dl.BASE_URL}/numpy_bitmap/cat.npy"
    assert dl.url_for("The Eiffel Tower", "binary", "http://mirror/x/") == "http://mirror/x/binary/The%20Eiffel%20Tower.bin"


def test_resumes_a_part_file_with_a_range_request(bucket, out):
    base_url, server = bucket
    data = put(server, "simplified/cat.ndjson", os.urandom(200_001))
    part = out / "simplified" / "cat.ndjson.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100_000])
    [path] = dl.download(["cat"], "simplified", out, base_url=base_url, progress=False)
    assert server.requests == [("/full/simplified/cat.ndjson", "bytes=100000-")]
    assert path.read_bytes() == data
    assert not part.exists()


def test_server_ignoring_range_still_gives_the_right_file(bucket, out):
    base_url, server = bucket
    server.ignore_range = True
    data = put(server, "simplified/cat.ndjson", os.urandom(50_000))
    part = out / "simplified" / "cat.ndjson.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 20_000)  # wrong bytes: appending the 200 body to them would corrupt the file
    [path] = dl.download(["cat"], "simplified", out, base_url=base_url, progress=False)
    assert server.requests == [("/full/simplified/cat.ndjson", "bytes=20000-")]
    assert path.read_bytes() == data and not part.exists()


def test_broken_connection_keeps_part_and_rerun_resumes(bucket, out):
    base_url, server = bucket
    data = put(server, "raw/cat.ndjson", os.urandom(120_000))
    server.break_after = 45_000
    with pytest.raises(dl.DownloadError, match="run again to resume"):
        dl.download(["cat"], "raw", out, base_url=base_url, progress=False)
    part = out / "raw" / "cat.ndjson.part"
    assert part.read_bytes() == data[:45_000]
    assert not (out / "raw" / "cat.ndjson").exists()  # never renamed into place half-done
    [path] = dl.download(["cat"], "raw", out, base_url=base_url, progress=False)
    assert server.requests[-1] == ("/full/raw/cat.ndjson", "bytes=45000-")
    assert path.read_bytes() == data


def test_complete_part_file_is_finished_on_416(bucket, out):
    base_url, server = bucket
    data = put(server, "binary/cat.bin", os.urandom(5000))
    part = out / "binary" / "cat.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    [path] = dl.download(["cat"], "binary", out, base_url=base_url, progress=False)
    assert server.requests == [("/full/binary/cat.bin", "bytes=5000-")]
    assert path.read_bytes() == data and not part.exists()


def test_oversized_part_file_is_restarted(bucket, out):
    base_url, server = bucket
    data = put(server, "binary/cat.bin", os.urandom(5000))
    part = out / "binary" / "cat.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(os.urandom(6000))
    [path] = dl.download(["cat"], "binary", out, base_url=base_url, progress=False)
    assert server.requests == [("/full/binary/cat.bin", "bytes=6000-"), ("/full/binary/cat.bin", None)]
    assert path.read_bytes() == data


def test_complete_files_are_skipped(bucket, out):
    base_url, server = bucket
    put(server, "simplified/cat.ndjson", b"new")
    done = out / "simplified" / "cat.ndjson"
    done.parent.mkdir(parents=True)
    done.write_bytes(b"already here")
    assert dl.download(["cat"], "simplified", out, base_url=base_url, progress=False) == [done]
    assert server.requests == [] and done.read_bytes() == b"already here"


def test_words_match_googles_spelling_case_insensitively(bucket, out):
    base_url, server = bucket
    put(server, "simplified/The Eiffel Tower.ndjson", b"x")
    [path] = dl.download(["the eiffel tower"], "simplified", out, base_url=base_url, progress=False)
    assert path.name == "The Eiffel Tower.ndjson"
    assert server.requests == [("/full/simplified/The%20Eiffel%20Tower.ndjson", None)]


def test_unknown_word_suggests_close_matches_and_fetches_nothing(bucket, out):
    base_url, server = bucket
    put(server, "simplified/cat.ndjson", b"x")
    with pytest.raises(dl.UnknownWordError, match=r"'alarm clok' \(did you mean 'alarm clock'") as info:
        dl.download(["cat", "alarm clok", "zzqx"], "simplified", out, base_url=base_url, progress=False)
    assert isinstance(info.value, ValueError)
    assert "'zzqx'" in str(info.value) and "categories.txt" in str(info.value)
    assert server.requests == [] and not out.exists()


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'png'"):
        dl.download(["cat"], "png", "nowhere", progress=False)


def test_unreachable_server(out):
    with socket.socket() as s:  # a port that was just free and is now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/full"
    with pytest.raises(dl.DownloadError) as info:
        dl.download(["cat"], "simplified", out, base_url=base_url, progress=False)
    message = str(info.value)
    assert f"{base_url}/simplified/cat.ndjson" in message
    assert f"needs a network connection to 127.0.0.1:{port}" in message and "\n" not in message
    assert not out.exists()  # nothing written, not even the folder


def test_offline_message_names_googles_host(monkeypatch, out):
    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    with pytest.raises(dl.DownloadError, match=r"needs a network connection to storage\.googleapis\.com"):
        dl.download(["cat"], "simplified", out, progress=False)


def test_http_error(bucket, out):
    base_url, _ = bucket  # nothing in the bucket: 404
    with pytest.raises(dl.DownloadError, match=r"simplified/cat\.ndjson: HTTP 404"):
        dl.download(["cat"], "simplified", out, base_url=base_url, progress=False)


def parse(*argv):
    parser = argparse.ArgumentParser()
    dl.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_arguments():
    args = parse("cat", "alarm clock")
    assert (args.words, args.format, args.out, args.base_url) == (["cat", "alarm clock"], "simplified",
                                                                  "quickdraw_data", dl.BASE_URL)
    args = parse("cat", "--format", "numpy_bitmap", "--out", "d", "--base-url", "http://m")
    assert (args.format, args.out, args.base_url) == ("numpy_bitmap", "d", "http://m")
    with pytest.raises(SystemExit):
        parse("cat", "--format", "png")
    with pytest.raises(SystemExit):
        parse("--format", "raw")  # a word is required
    assert dl.__doc__.splitlines()[0].startswith("Download Quick, Draw! files from Google's public bucket")


def test_cli(bucket, tmp_path, capsys):
    base_url, server = bucket
    data = put(server, "raw/cat.ndjson", b"{}\n")
    assert dl.cli(parse("cat", "--format", "raw", "--out", str(tmp_path / "o"), "--base-url", base_url)) == 0
    assert (tmp_path / "o" / "raw" / "cat.ndjson").read_bytes() == data
    assert str(tmp_path / "o" / "raw" / "cat.ndjson") in capsys.readouterr().out

    assert dl.cli(parse("catt", "--out", str(tmp_path / "o"), "--base-url", base_url)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: not a Quick, Draw! category") and "'cat'" in err and "Traceback" not in err

    assert dl.cli(parse("dog", "--out", str(tmp_path / "o"), "--base-url", base_url)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and "HTTP 404" in err and err.count("\n") == 1
