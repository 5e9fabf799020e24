"""What one upload costs the vision lab's server in memory: the server process's peak RSS
during a POST /api/vision/<task>, less its RSS just before, for small files that decode big
(an 8000 x 8000 PNG of 16-bit grey, of 1 bit) and an ordinary phone photo; and for N such
uploads at once.

Each case runs in a fresh process (peak RSS only ever grows). The upload goes to a task
whose model is not downloaded here, so the request decodes the photo and then answers 503
without loading a model: the figure is the decoding's. Statuses: "503 decoded" (then no
model), "413 refused" (over VISION_MAX_DECODED), "503 busy" (no decode slot in time).

    python benchmarks/vision_memory.py [--at-once 8] [--json]
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "tests"):  # run as a plain script from anywhere
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

CASES = ("16-bit", "1-bit", "photo")
SIDE = 8000


def grey_png(bit_depth: int) -> bytes:
    """A black SIDE x SIDE grey PNG, compressed row by row (tests/vision_photos.py's blank_grey_png)."""
    from vision_photos import blank_grey_png

    return blank_grey_png(SIDE, SIDE, bit_depth)


def phone_photo() -> bytes:
    """A 4000 x 3000 JPEG (12 MP), as a phone takes: gradients."""
    from PIL import Image

    size = (4000, 3000)
    img = Image.merge("RGB", [Image.linear_gradient("L").resize(size), Image.radial_gradient("L").resize(size),
                              Image.new("L", size, 128)])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def status_kb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM: the peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> None:
    """The peak RSS (VmHWM) starts again from the RSS of now (Linux 4.0 and later)."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(case: str, at_once: int) -> dict:
    """In this process: the app, one small warm-up upload, then `at_once` uploads of `case` at once."""
    from game.app import create_app

    data = {"16-bit": lambda: grey_png(16), "1-bit": lambda: grey_png(1), "photo": phone_photo}[case]()
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "VISION_CACHE_DIR": tempfile.mkdtemp(),
                      "VISION_MODELS": {"detection": ["doodle-lab-bench/not-downloaded"]}})

    def post(body: bytes) -> str:
        r = app.test_client().post("/api/vision/detection", data={"image": (io.BytesIO(body), "x")})
        busy = r.status_code == 503 and "busy" in r.get_json()["error"]
        return f"{r.status_code} {'busy' if busy else 'decoded' if r.status_code == 503 else 'refused'}"

    post(phone_photo())  # every code path imported and warm
    reset_peak()
    before = status_kb("VmRSS")
    statuses: list[str] = []
    threads = [threading.Thread(target=lambda: statuses.append(post(data))) for _ in range(at_once)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = status_kb("VmHWM")
    return {"case": case, "file_kb": round(len(data) / 1024, 1), "at_once": at_once, "rss_before_mb": round(before),
            "peak_mb": round(peak), "peak_over_before_mb": round(peak - before), "statuses": sorted(statuses)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--at-once", type=int, default=8, help="uploads at once in the last run (default 8)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # the child process's
    parser.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure(args.case, args.n)))
        return
    runs = [(case, 1) for case in CASES] + [("1-bit", args.at_once)]
    for case, n in runs:
        out = subprocess.run([sys.executable, __file__, "--case", case, "--n", str(n)], check=True,
                             capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{case:7s} {result['file_kb']:8.1f} KB x{n}: RSS {result['rss_before_mb']} MB before, peak "
                  f"{result['peak_mb']} MB (+{result['peak_over_before_mb']} MB); statuses {result['statuses']}")


if __name__ == "__main__":
    main()
