"""`python -m game.vision pull`: downloads from a hub (here a fake one this test serves on
localhost through $HF_ENDPOINT, speaking the few calls huggingface_hub makes), into the
cache the lab then reads offline; and a clear failure when no hub can be reached."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image

from game.app import create_app
from vision_models import build_tiny_models

ROOT = Path(__file__).resolve().parent.parent
REPO = "google/vit-base-patch16-224"  # the classification list's first Hub model, served tiny
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub(files: dict[str, bytes], requests: list[str]) -> http.server.ThreadingHTTPServer:
    """A hub serving one model repository, REPO at COMMIT, with `files`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status: int, body: bytes, headers: dict, send_body: bool = True):
            self.send_response(status)
            for k, v in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(k, v)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def route(self, send_body: bool):
            path = unquote(urlparse(self.path).path)
            requests.append(f"{self.command} {path}")
            api = f"/api/models/{REPO}"
            if path in (f"{api}/revision/main", f"{api}/revision/{COMMIT}"):
                info = {"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": f} for f in files]}
                return self.reply(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, send_body)
            if path.startswith(f"{api}/tree/"):
                tree = [{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                        for f, b in files.items()]
                return self.reply(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, send_body)
            for rev in ("main", COMMIT):
                prefix = f"/{REPO}/resolve/{rev}/"
                if path.startswith(prefix) and path[len(prefix):] in files:
                    body = files[path[len(prefix):]]
                    return self.reply(200, body, {"X-Repo-Commit": COMMIT,
                                                  "ETag": f'"{hashlib.sha256(body).hexdigest()}"'}, send_body)
            self.reply(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"}, send_body)

        def do_GET(self):
            self.route(True)

        def do_HEAD(self):
            self.route(False)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_pull(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | env
    return subprocess.run([sys.executable, "-m", "game.vision", "pull", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_pull_downloads_into_the_cache_the_lab_reads(tmp_path):
    model_dir = build_tiny_models(tmp_path / "src")["classification"]
    files = {p.name: p.read_bytes() for p in Path(model_dir).iterdir()}
    files["pytorch_model.bin"] = b"a pickled duplicate of the safetensors weights"
    files["tf_model.h5"] = b"TensorFlow weights"
    requests: list[str] = []
    server = fake_hub(files, requests)
    cache = tmp_path / "cache"
    try:
        done = run_pull(["classification", "--all", "--cache-dir", str(cache)],
                        {"HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}"})
    finally:
        server.shutdown()
    out = done.stdout + done.stderr
    # The other Hub models of the list are not on this hub: they fail, the rest goes on.
    assert done.returncode == 1, out
    assert "[1/4] classification: efficientnet-lite0 ships with" in out
    assert f"[2/4] classification: {REPO} from http://127.0.0.1:{server.server_port}" in out
    assert "done in" in out and "2 of 4 models could not be downloaded" in out
    assert "Fetching" in out  # huggingface_hub's progress bar
    snapshot = cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    assert (snapshot / "model.safetensors").is_file() and (snapshot / "config.json").is_file()
    assert not (snapshot / "pytorch_model.bin").exists() and not (snapshot / "tf_model.h5").exists()
    assert not any("pytorch_model.bin" in r or "tf_model.h5" in r for r in requests if "/resolve/" in r)

    # The lab, offline, now runs the pulled model from that cache.
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_CACHE_DIR": str(cache),
                      "VISION_DEFAULT_MODELS": {"classification": REPO}})
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 100, 50)).save(buf, "PNG")
    r = app.test_client().post("/api/vision/classification", data={"image": (io.BytesIO(buf.getvalue()), "x.png")})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["model"] == REPO and {x["label"] for x in r.get_json()["labels"]} == {"cat", "dog", "car"}
    assert "is the model id right" in out  # the hub's 404s for the two models it lacks

    # A pull cut off before the weights: the model is not ready, and the message says so.
    (snapshot / "model.safetensors").unlink()
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_CACHE_DIR": str(cache),
                      "VISION_DEFAULT_MODELS": {"classification": REPO}})
    r = app.test_client().post("/api/vision/classification", data={"image": (io.BytesIO(buf.getvalue()), "x.png")})
    assert r.status_code == 503 and "download was cut off" in r.get_json()["error"], r.get_json()
    assert "python -m game.vision pull classification" in r.get_json()["error"]


def test_pull_without_a_network_fails_clearly(tmp_path):
    # HF_HUB_OFFLINE fails at once; a real outage fails the same way after huggingface_hub's
    # five retries (about 25 s a model).
    done = run_pull(["zero-shot", "--cache-dir", str(tmp_path)], {"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1
    assert "[1/1] zero-shot: openai/clip-vit-base-patch32" in done.stdout
    assert "FAILED" in done.stderr and "is the network up? HF_ENDPOINT=https://huggingface.co" in done.stderr
    assert "1 of 1 models could not be downloaded" in done.stderr
    assert "Traceback" not in done.stderr


def test_pull_refuses_unknown_tasks():
    done = run_pull(["colouring"], {})
    assert done.returncode == 2 and "unknown task(s) colouring" in done.stderr
