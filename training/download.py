"""Download Quick, Draw! files from Google's public bucket (needs internet).

    python -m training download cat "alarm clock" --format simplified --out quickdraw_data

Files land in ``<out>/<format>/<word><ext>``, the bucket's own layout, which
:mod:`game.dataset.quickdraw` reads. Downloads resume: bytes go to ``<file>.part``
and a rerun continues from there with an HTTP Range request; the file is renamed
into place only when complete, so an existing file is a complete one and is skipped.
Stdlib urllib only, so it works wherever Python does.

The data is Google's, under CC BY 4.0: credit Google when shipping anything made from it.
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from game.words import CATEGORIES, load_categories

__all__ = ["BASE_URL", "FORMATS", "DownloadError", "UnknownWordError", "categories", "url_for", "download",
           "add_arguments", "cli"]

BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full"
# Path of each format under BASE_URL; "{}" is the URL-quoted word.
FORMATS = {
    "simplified": "simplified/{}.ndjson",
    "raw": "raw/{}.ndjson",
    "numpy_bitmap": "numpy_bitmap/{}.npy",
    "binary": "binary/{}.bin",
}
DEFAULT_OUT = "quickdraw_data"
CHUNK = 1 << 20
TIMEOUT_S = 60


class DownloadError(RuntimeError):
    """A download failed (network, HTTP, or a short file); the message is meant for users."""


class UnknownWordError(ValueError):
    """A word that is not one of Google's 345 categories."""


def categories() -> list[str]:
    """Google's 345 words, from data/categories.txt."""
    return list(load_categories())


def _canonical_words(words) -> list[str]:
    """Map each word to Google's spelling (case-insensitive); unknown words raise with suggestions."""
    known = categories()
    by_lower = {w.lower(): w for w in known}
    result, problems = [], []
    for word in words:
        canonical = by_lower.get(" ".join(word.replace("_", " ").split()).lower())
        if canonical is not None:
            result.append(canonical)
            continue
        close = difflib.get_close_matches(word.lower(), list(by_lower), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(by_lower[c]) for c in close)}?)" if close else ""
        problems.append(f"{word!r}{hint}")
    if problems:
        raise UnknownWordError(
            f"not a Quick, Draw! category: {'; '.join(problems)}. The {len(known)} words are listed in {CATEGORIES}"
        )
    return list(dict.fromkeys(result))  # drop repeats, keep order


def url_for(word: str, fmt: str, base_url: str = BASE_URL) -> str:
    """URL of one word's file in one format ("alarm clock" -> "alarm%20clock")."""
    return f"{base_url.rstrip('/')}/{FORMATS[fmt].format(urllib.parse.quote(word))}"


def download(words, fmt: str, out_dir, base_url: str = BASE_URL, progress: bool = True) -> list[Path]:
    """Fetch ``<base_url>/<fmt path>`` for each word into ``out_dir/<fmt>/``; return the file paths.

    Every word is checked before anything is fetched. Raises UnknownWordError
    (a ValueError) for unknown words, ValueError for an unknown format, and
    DownloadError for anything that goes wrong on the way.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    words = _canonical_words(words)
    target_dir = Path(out_dir) / fmt
    paths = []
    for word in words:
        url = url_for(word, fmt, base_url)
        path = target_dir / Path(FORMATS[fmt].format(word)).name
        if not path.exists():
            _fetch(url, path, base_url, progress)
        paths.append(path)
    return paths


def _fetch(url: str, path: Path, base_url: str, progress: bool) -> None:
    """Download url to path via path.part, resuming a partial .part with a Range request."""
    part = path.with_name(path.name + ".part")
    host = urllib.parse.urlsplit(base_url).netloc or base_url
    need_net = f"downloading needs a network connection to {host}"
    for _attempt in range(2):  # a second go only after throwing away a bad .part
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "doodle-lab-download"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # asked for bytes past the end: is the .part already whole?
                total = _total_from_content_range(e.headers.get("Content-Range"))
                e.close()
                if total == offset:
                    part.replace(path)
                    return
                part.unlink()  # larger than the file, or unknown: start over
                continue
            e.close()
            raise DownloadError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            raise DownloadError(f"could not reach {url}: {reason}; {need_net}") from None
        with response:
            if response.status == 206:
                total = _total_from_content_range(response.headers.get("Content-Range"))
                start = _start_from_content_range(response.headers.get("Content-Range"))
                if start != offset:
                    raise DownloadError(f"could not download {url}: server resumed at byte {start}, not {offset}")
                mode = "ab"
            else:  # 200: the server ignored Range (or there was none), so the body is the whole file
                offset, mode = 0, "wb"
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            received = offset
            part.parent.mkdir(parents=True, exist_ok=True)
            with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                             unit_divisor=1024, desc=path.name, disable=not progress,
                                             leave=False) as bar:
                try:
                    while chunk := response.read(CHUNK):
                        f.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                except (OSError, HTTPException) as e:
                    raise DownloadError(
                        f"download of {url} broke off after {received} bytes ({e}); run again to resume"
                    ) from None
        if total is not None and received != total:
            raise DownloadError(
                f"download of {url} broke off after {received} of {total} bytes; run again to resume"
            )
        part.replace(path)
        return
    raise DownloadError(f"could not download {url}: the server keeps refusing the resume request")


def _total_from_content_range(value: str | None) -> int | None:
    """'bytes 100-199/200' or 'bytes */200' -> 200; None when absent or '*'."""
    match = re.fullmatch(r"\s*bytes\s+(?:\d+-\d+|\*)/(\d+|\*)\s*", value or "")
    return int(match.group(1)) if match and match.group(1) != "*" else None


def _start_from_content_range(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*", value or "")
    return int(match.group(1)) if match else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("words", nargs="+", metavar="CATEGORY",
                        help='Quick, Draw! words, e.g. cat "alarm clock" (see data/categories.txt)')
    parser.add_argument("--format", choices=list(FORMATS), default="simplified",
                        help="which of Google's formats to fetch (default: simplified)")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"where files go, as DIR/<format>/<word><ext> (default: {DEFAULT_OUT})")
    parser.add_argument("--base-url", default=BASE_URL, help=f"a mirror of the bucket (default: {BASE_URL})")


def cli(args: argparse.Namespace) -> int:
    """Run a download from parsed arguments; errors become one line on stderr and a non-zero status."""
    try:
        paths = download(args.words, args.format, args.out, base_url=args.base_url)
    except UnknownWordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (DownloadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    print(f"{len(paths)} file(s) in {Path(args.out) / args.format}. Data by Google, Inc., CC BY 4.0.")
    return 0
