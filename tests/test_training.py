"""training: the split, a short real training run, evaluation's JSON and PNGs, and seeding."""
import argparse
import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from safetensors.torch import load_file

from game.model.classifier import DoodleClassifier, member_file
from training import data, train
from training.model import (ARCHS, WithEmbedding, arch_of, bitmaps_to_tensor, build_model, checkpoint_metadata,
                            export_onnx, load_checkpoint, logits_and_parts, member_of, native_bfloat16, part_widths,
                            save_weights)
from training.card import reproduce_command, training_precision

WORDS = ["cat", "bicycle", "anvil", "umbrella", "lightning"]


def test_split_is_by_identity_not_by_folder(quickdraw_dir):
    assert data.split_of("5201136883597312") == data.split_of("5201136883597312")
    sides = [data.split_of(str(k)) for k in range(10_000)]
    assert 0.07 < sides.count("test") / 10_000 < 0.13
    _, splits = data.load(quickdraw_dir, ["cat", "zigzag"], log=lambda *a: None)
    # A drawing in both raw/ and simplified/ is one drawing: never on two sides.
    keys = {}
    for word in ("cat", "zigzag"):
        for folder in ("raw", "simplified"):
            for line in (quickdraw_dir / folder / f"{word}.ndjson").read_text().splitlines():
                keys.setdefault(json.loads(line)["key_id"], set()).add(data.split_of(json.loads(line)["key_id"]))
    assert all(len(s) == 1 for s in keys.values())
    assert sum(len(s.drawings) for s in splits.values()) == len(keys)
    # Google's numpy_bitmap rows 0-24 are simplified lines 0-24: same side as that key_id.
    test_bitmaps = {r.tobytes() for r in splits["test"].bitmaps}
    train_bitmaps = {r.tobytes() for r in splits["train"].bitmaps}
    assert not test_bitmaps & train_bitmaps


@pytest.fixture(scope="module")
def short_run(quickdraw_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "short.safetensors"
    cfg = dict(train.CONFIG, data=str(quickdraw_dir), out=str(out), words=",".join(WORDS),
               epochs=2, steps_per_epoch=40, batch_size=64)
    result = train.train(cfg, log=lambda *a: None)
    return out, result


def test_short_training_run_beats_chance(short_run, quickdraw_dir):
    out, result = short_run
    assert result["temperature"] > 0 and len(result["history"]) == 2
    clf = DoodleClassifier.load(result["served"])
    assert result["served"] == str(out.with_suffix(".onnx"))
    _, splits = data.load(quickdraw_dir, WORDS, log=lambda *a: None)
    held = [s for name, s in splits.items() if name != "train"]
    drawings = [r if r is not None else d for s in held for d, r in zip(s.drawings, s.raw)]
    labels = [y for s in held for y in s.drawing_labels]
    guesses = clf.classify_batch(drawings, k=1)
    acc = np.mean([g[0][0] == clf.categories[y] for g, y in zip(guesses, labels)])
    assert len(drawings) >= 20
    # Chance among these 5 words is 0.2 (and 1/345 over the whole model).
    assert acc >= 0.6, f"top-1 {acc:.2f} on {len(drawings)} held-out drawings"


def test_evaluate_cli_prints_json_and_writes_pngs(short_run, quickdraw_dir, tmp_path):
    out, _ = short_run
    proc = subprocess.run([sys.executable, "-m", "training", "evaluate", "--model", str(out.with_suffix(".onnx")),
                           "--data", str(quickdraw_dir), "--words", ",".join(WORDS), "--out", str(tmp_path),
                           "--card"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in ("top1", "top3", "map3"):
        assert 0 <= report["all_categories"][key] <= 1
    assert report["all_categories"]["top3"] >= report["all_categories"]["top1"]
    assert set(report["accuracy_by_stroke_fraction"]) == {"25%", "50%", "75%", "100%"}
    assert set(report["per_category_recall"]) == set(WORDS)
    assert set(report["per_category_recall_val"]) == set(WORDS)
    # cat and bicycle are the big words here, both with Google's numpy_bitmap rows.
    by_source = report["big_categories_by_source"]
    assert set(by_source) == {"numpy_bitmap"} and by_source["numpy_bitmap"]["words"] == 2
    assert by_source["numpy_bitmap"]["bitmaps"]["n"] == report["big_categories_bitmaps"]["n"]
    assert by_source["numpy_bitmap"]["strokes"]["n"] == report["big_categories_strokes"]["n"]
    losses = report["big_categories_bitmaps_thin_word_losses"]
    assert losses["top1_within_big_words"] >= report["big_categories_bitmaps"]["top1"]
    assert {w for w, _ in losses["thin_words"]} <= {"anvil", "umbrella", "lightning"}
    for png in ("short-confusion.png", "short-training-curve.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --card: the model card and metrics beside the model, saying how the figures were computed.
    card = (out.parent / "MODEL_CARD.md").read_text()
    assert "CC BY 4.0" in card or "Creative Commons Attribution 4.0" in card
    assert "short.onnx` (ONNX, run by onnxruntime" in card and f"T = {report['temperature']:.3f}" in card
    assert "| numpy_bitmap | 2 |" in card
    assert json.loads(out.with_suffix(".metrics.json").read_text())["per_category_recall"] == report["per_category_recall"]


def test_evaluate_cli_reports_missing_data(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "training", "evaluate", "--data", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Quick, Draw! data not found" in proc.stderr


def test_shards_are_disjoint_and_cover_the_split(quickdraw_dir):
    _, splits = data.load(quickdraw_dir, ["cat", "anvil"], log=lambda *a: None)
    whole = splits["train"]
    shards = [whole.shard(rank, 3) for rank in range(3)]
    for field in ("drawings", "drawing_labels", "bitmaps", "bitmap_sources"):
        assert sum(len(getattr(s, field)) for s in shards) == len(getattr(whole, field))
    keys = [{json.dumps(d) for d in s.drawings} for s in shards]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert set().union(*keys) == {json.dumps(d) for d in whole.drawings}
    assert all(set(s.drawing_labels) == set(whole.drawing_labels) for s in shards)  # both words on every rank
    assert whole.shard(0, 1) is whole


def test_torchrun_trains_the_same_model_as_one_process(quickdraw_dir, tmp_path):
    """Two gloo ranks at the same global batch: the loss curve of one process within noise, one model file."""
    flags = dict(words=",".join(WORDS), epochs=3, steps_per_epoch=30, batch_size=64)
    alone = train.train(dict(train.CONFIG, data=str(quickdraw_dir), out=str(tmp_path / "one" / "m.safetensors"),
                             **flags), log=lambda *a: None)
    cli = [f"--{k.replace('_', '-')}={v}" for k, v in flags.items()]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "training", "train", "--data", str(quickdraw_dir),
                           "--out", str(tmp_path / "two" / "m.safetensors"), *cli],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["m.onnx", "m.reference.npz", "m.safetensors"]
    meta = checkpoint_metadata(tmp_path / "two" / "m.safetensors")
    assert json.loads(meta["processes"]) == 2
    assert reproduce_command(json.loads(meta["config"]), 2).startswith("torchrun --nproc_per_node 2 -m training train")
    ranked = [h["train_loss"] for h in json.loads(meta["history"])]
    single = [h["train_loss"] for h in alone["history"]]
    # Both fall from ln(345) = 5.8 at the start; the epochs' means differ by sampling noise only.
    assert ranked[-1] < ranked[0] and single[-1] < single[0]
    assert all(abs(a - b) < 0.12 for a, b in zip(ranked, single)), (ranked, single)
    two = DoodleClassifier.load(tmp_path / "two" / "m.onnx")
    assert two.categories == DoodleClassifier.load(alone["served"]).categories
    assert float(json.loads(meta["history"])[-1]["val_top1"]) >= 0.5, "chance among 5 words is 0.2"


@pytest.fixture
def full_files(quickdraw_dir, tmp_path):
    """A data folder shaped as `python -m training download` leaves Google's full files: simplified/ only."""
    (tmp_path / "full" / "simplified").mkdir(parents=True)
    for word in WORDS:
        lines = (quickdraw_dir / "simplified" / f"{word}.ndjson").read_text().splitlines()
        (tmp_path / "full" / "simplified" / f"{word}.ndjson").write_text("\n".join(lines * 3) + "\n")
    return tmp_path / "full"


def test_stroke_stream_reads_its_shard_a_line_at_a_time(full_files):
    path = full_files / "simplified" / "cat.ndjson"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    mine = [r["drawing"] for i, r in enumerate(lines) if i % 2 == 1 and data.split_of(r["key_id"]) == "train"]
    stream = data.StrokeStream({7: path}, rank=1, world=2, rng=np.random.default_rng(0), buffer=4)
    taken = [stream.take(7) for _ in range(3 * len(mine))]
    assert len(stream.buffers[7]) == 4  # all it holds of the file besides the line it reads
    assert all(d in mine for d in taken)  # only this rank's lines, only the training side
    assert len({json.dumps(d) for d in taken}) > len(mine) // 2  # the file read again at its end, shuffled
    held_cats, held, files = data.load_held_out(full_files, ["cat", "anvil"], per_word=3, log=lambda *a: None)
    assert files == {held_cats.index("cat"): path, held_cats.index("anvil"): full_files / "simplified" / "anvil.ndjson"}
    assert [held[side].drawing_labels.count(held_cats.index("cat")) for side in ("val", "test")] == [3, 3]
    assert all(data.split_of(r["key_id"]) == "val" for r in lines if r["drawing"] in held["val"].drawings)
    with pytest.raises(FileNotFoundError, match="python -m training download"):
        data.load_held_out(full_files, ["dog"], log=lambda *a: None)


def test_training_streams_full_files(full_files, tmp_path):
    cfg = dict(train.CONFIG, data=str(full_files), out=str(tmp_path / "s.safetensors"), words=",".join(WORDS),
               stream=True, epochs=2, steps_per_epoch=30, batch_size=64)
    result = train.train(cfg, log=lambda *a: None)
    assert result["data_counts"]["train"] == {"strokes": 0}  # none loaded: they streamed
    assert result["data_counts"]["val"]["strokes"] > 0
    losses = [h["train_loss"] for h in result["history"]]
    assert losses[1] < losses[0], losses
    assert DoodleClassifier.load(result["served"]).categories[0] == "aircraft carrier"
    with pytest.raises(ValueError, match="--stream reads Google's full files only"):
        train.train(dict(cfg, extra=[str(tmp_path)]), log=lambda *a: None)


@pytest.mark.parametrize("bf16", [True, False], ids=["bf16-where-native", "float32"])
def test_training_is_seeded(quickdraw_dir, tmp_path, bf16):
    weights = []
    for name in ("a", "b"):
        cfg = dict(train.CONFIG, data=str(quickdraw_dir), out=str(tmp_path / f"{name}.safetensors"),
                   words="cat,anvil", epochs=1, steps_per_epoch=3, batch_size=16, bf16=bf16)
        train.train(cfg, log=lambda *a: None)
        weights.append(load_file(str(tmp_path / f"{name}.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
    # The model records the precision it really trained in, and its card says it.
    meta = checkpoint_metadata(tmp_path / "a.safetensors")
    precision = "bfloat16" if bf16 and native_bfloat16() else "float32"
    assert json.loads(meta["training_precision"]) == precision
    assert training_precision({k: json.loads(meta[k]) for k in ("training_precision", "config")}).startswith(precision)
    assert "--bf16 was asked" in training_precision({"training_precision": "float32", "config": {"bf16": True}})


def test_each_architecture_takes_the_games_bitmaps_and_lite0_starts_from_imagenet():
    import torch
    from game.vision.pipelines import EfficientNetLite0

    x = torch.rand(3, 1, 28, 28)
    for name, arch in ARCHS.items():
        model = build_model(345, arch).eval()
        with torch.no_grad():
            assert model(x).shape == (3, 345), name
            logits, (parts,) = logits_and_parts(model, x)
        assert torch.allclose(logits, model(x), atol=1e-5), name
        # Its last 2 stages, pooled, and the features its classifier reads (lite0's head's; the ResNet's last stage's).
        assert [p.shape for p in parts] == {"resnet18s": [(3, 128), (3, 256)],
                                            "lite0": [(3, 112), (3, 320), (3, 1280)]}[name], name
        assert parts[-1].shape[1] == model.get_classifier().in_features, name
    stem = build_model(345, ARCHS["lite0"], pretrained=True).net.conv_stem.weight
    assert torch.equal(stem, EfficientNetLite0.load().model.conv_stem.weight)
    assert not torch.equal(stem, build_model(345, ARCHS["lite0"]).net.conv_stem.weight)
    with pytest.raises(ValueError, match="--arch must be one of"):
        train.train(dict(train.CONFIG, arch="vgg16"), log=lambda *a: None)


def test_lite0_trains_and_its_served_file_computes_what_its_checkpoint_does(quickdraw_dir, tmp_path):
    """The pretrained network through the whole pipeline: trained a few steps, exported to ONNX
    with its 28x28 input, served, and read back from its checkpoint as lite0."""
    import torch

    out = tmp_path / "lite.safetensors"
    result = train.train(dict(train.CONFIG, data=str(quickdraw_dir), out=str(out), words="cat,anvil", arch="lite0",
                              epochs=1, steps_per_epoch=3, batch_size=16), log=lambda *a: None)
    model, meta = load_checkpoint(out)
    assert arch_of(meta) == ARCHS["lite0"] and isinstance(model.net, torch.nn.Module)
    _, splits = data.load(quickdraw_dir, ["cat", "anvil"], log=lambda *a: None)
    rows = np.stack(splits["test"].bitmaps[:4])
    x = bitmaps_to_tensor(rows)
    with torch.no_grad():
        both = [WithEmbedding(model)(v) for v in (x, x.flip(3))]
    torch_logits, torch_embeddings = (((a + b) / 2).numpy() for a, b in zip(*both))
    export_onnx(model, tmp_path / "float32.onnx", meta)  # the network's function, exactly
    clf = DoodleClassifier.load(tmp_path / "float32.onnx")
    logits, embeddings = clf.logits(rows)
    assert logits.shape == (4, len(clf.categories)) and embeddings.shape == (4, 112 + 320 + 1280)
    assert np.abs(embeddings - torch_embeddings).max() <= 1e-3
    assert np.abs(logits * clf.temperature - torch_logits).max() <= 1e-3
    served = DoodleClassifier.load(result["served"])  # the same in int8, each part weighed
    assert served.metadata["precision"] == "int8"
    logits, embeddings = served.logits(rows)
    for mine, theirs in zip(np.split(embeddings, [112, 432], axis=1), np.split(torch_embeddings, [112, 432], axis=1)):
        cosines = (mine * theirs).sum(1) / np.linalg.norm(mine, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cosines.min() >= 0.95
    with np.load(out.with_suffix(".reference.npz")) as bank:
        assert bank["embeddings"].shape[1] == embeddings.shape[1]
        # The softmax's denominator a taught row is fitted against: above the top logit, within log(words).
        gap = bank["logsumexp"] - bank["top_logits"]
        assert gap.shape == (len(bank["embeddings"]),) and 0 <= gap.min() and gap.max() <= np.log(len(clf.categories)) + 1e-4


def test_an_ensemble_serves_its_members_log_probabilities_averaged(short_run, quickdraw_dir, tmp_path):
    """Two networks trained apart, joined by `python -m training ensemble`: one checkpoint and one
    ONNX file whose logits are the mean of the members' log-probabilities (each at its one-view
    temperature) over the ensemble's own, whose embedding is the members' side by side, read back as
    an ensemble, with a card that says how to make each part. Bad joins are refused first."""
    import torch
    from training import ensemble
    from training.card import write
    from training.evaluate import run

    first, _ = short_run
    second = tmp_path / "lite.safetensors"
    train.train(dict(train.CONFIG, data=str(quickdraw_dir), out=str(second), words=",".join(WORDS), arch="lite0",
                     epochs=1, steps_per_epoch=3, batch_size=16), log=lambda *a: None)
    out = tmp_path / "pair.safetensors"
    cli = [sys.executable, "-m", "training", "ensemble", "--data", str(quickdraw_dir), "--members", str(first),
           str(second), "--out", str(out)]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out.with_suffix('.onnx')}" in done.stdout
    # Each member's weights in files of its own beside the ensemble's (no file holds them all),
    # and their digests in the ONNX file, whose bytes name the model taught words belong to.
    files = {p.name: p.stat().st_size for p in tmp_path.glob("pair.*")}
    assert {"pair.member0.safetensors", "pair.member1.safetensors", "pair.member0.onnx.data",
            "pair.member1.onnx.data"} <= set(files)
    assert files["pair.safetensors"] < min(files["pair.member0.safetensors"], files["pair.member1.safetensors"]) / 10
    graph = onnx.load(str(out.with_suffix(".onnx")), load_external_data=False).graph
    members = [t for t in graph.initializer if member_of(t.name) is not None]
    outside = sum(int(e.value) for t in members for e in t.external_data if e.key == "length")
    inline = sum(len(t.raw_data) + 4 * (len(t.int32_data) + len(t.float_data)) + 8 * len(t.int64_data)
                 for t in members if t.data_location != onnx.TensorProto.EXTERNAL)
    assert outside == files["pair.member0.onnx.data"] + files["pair.member1.onnx.data"]
    assert inline < outside / 20  # a quantized layer's zero points, a few numbers each
    assert set(json.loads(DoodleClassifier.load(out.with_suffix(".onnx")).metadata["weights"])) == {
        "pair.member0.onnx.data", "pair.member1.onnx.data"}

    model, meta = load_checkpoint(out)
    assert arch_of(meta) == {"members": [ARCHS["resnet18s"], ARCHS["lite0"]]}
    members = [load_checkpoint(p) for p in (first, second)]
    assert [m["file"] for m in json.loads(meta["members"])] == [str(first), str(second)]
    assert model.temperatures.tolist() == pytest.approx([float(m["one_view_temperature"]) for _, m in members])
    # The ensemble's function, exported in float32 (the served file is int8: quantization's error).
    export_onnx(model, tmp_path / "pair-float32.onnx", meta)
    clf = DoodleClassifier.load(tmp_path / "pair-float32.onnx", mirror_up_to=0)  # one view: the members' own
    _, splits = data.load(quickdraw_dir, WORDS, log=lambda *a: None)
    rows = np.stack(splits["test"].bitmaps[:4])
    logits, embeddings = clf.logits(rows)
    x = bitmaps_to_tensor(rows)
    with torch.no_grad():
        outs = [WithEmbedding(m)(x) for m, _ in members]
    mean = sum(torch.log_softmax(z / float(m["one_view_temperature"]), 1) for (z, _), (_, m) in zip(outs, members)) / 2
    assert np.abs(logits * clf.one_view_temperature - mean.numpy()).max() <= 1e-3
    # As loaded, each member's embedding at weight 1, side by side.
    assert np.abs(embeddings - torch.cat([e for _, e in outs], 1).numpy()).max() <= 1e-3
    with np.load(out.with_suffix(".reference.npz")) as bank:
        assert bank["embeddings"].shape[1] == embeddings.shape[1] == sum(e.shape[1] for _, e in outs)
        # The served file weighs its parts (each network's last stages and pre-logit features,
        # pooled) to equal shares of the bank's centred length.
        widths = [w for m, _ in members for network in part_widths(m) for w in network]
        assert len(widths) == 5  # the ResNet's 2 (its last stage's pool is its pre-logits), lite0's 3
        parts = np.split(bank["embeddings"].astype(np.float32), np.cumsum(widths)[:-1], axis=1)
        lengths = np.array([np.linalg.norm(p - p.mean(0), axis=1).mean() for p in parts]) * np.sqrt(len(parts))
        assert lengths.max() / lengths.min() < 1.3 and 0.55 < lengths.min() and lengths.max() < 1.15

    card = write(out.with_suffix(".onnx"), run(out.with_suffix(".onnx"), quickdraw_dir, ",".join(WORDS),
                                               tmp_path / "eval")).read_text()
    assert "An ensemble of 2 networks" in card and f"2. `{second}`: timm `tf_efficientnet_lite0`" in card
    assert "python -m training train --words cat,bicycle" in card
    assert f"--arch lite0 --epochs 1 --steps-per-epoch 3 --batch-size 16 --out {second}" in card
    assert f"python -m training ensemble --members {first} {second} --out {out}" in card
    assert (tmp_path / "eval" / "pair-short-training-curve.png").is_file()  # each member's curve

    other_words = tmp_path / "other.safetensors"
    train.train(dict(train.CONFIG, data=str(quickdraw_dir), out=str(other_words), words="cat,anvil", epochs=1,
                     steps_per_epoch=2, batch_size=16), log=lambda *a: None)
    for members_, target, refusal in [([first], out, "two networks at least"),
                                      ([first, second], first.with_suffix(".pt"), "overwrite a member"),
                                      ([out, second], tmp_path / "x.safetensors", "named twice"),
                                      ([first, other_words], tmp_path / "x.safetensors", "other words")]:
        with pytest.raises(ValueError, match=refusal):
            ensemble.ensemble(members_, target, quickdraw_dir, log=lambda *a: None)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        ensemble.ensemble([first, tmp_path / "none.safetensors"], tmp_path / "y.safetensors", quickdraw_dir)

    # A network trained since joins the ensemble in its place: its members as they were, one more.
    third = tmp_path / "third.safetensors"
    train.train(dict(train.CONFIG, data=str(quickdraw_dir), out=str(third), words=",".join(WORDS), epochs=1,
                     steps_per_epoch=2, batch_size=16, seed=7), log=lambda *a: None)
    ensemble.ensemble([out, third], out, quickdraw_dir, log=lambda *a: None)
    joined, meta = load_checkpoint(out)
    assert arch_of(meta) == {"members": [ARCHS["resnet18s"], ARCHS["lite0"], ARCHS["resnet18s"]]}
    assert [m["file"] for m in json.loads(meta["members"])] == [str(first), str(second), str(third)]
    assert json.loads(meta["members"])[1]["config"]["arch"] == "lite0"
    assert joined.temperatures.tolist() == pytest.approx(
        [float(m["one_view_temperature"]) for _, m in members] + [float(checkpoint_metadata(third)["one_view_temperature"])])
    for i, (network, _) in enumerate(members):
        for (name, weight), kept in zip(network.state_dict().items(), joined.members[i].state_dict().values()):
            assert torch.equal(weight, kept), name
    assert DoodleClassifier.load(out.with_suffix(".onnx")).logits(rows)[1].shape[1] == embeddings.shape[1] + 128 + 256

    # Copied without a member's weights, each file says which is missing.
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("pair.onnx", "pair.member0.onnx.data", "pair.safetensors", "pair.member1.safetensors"):
        shutil.copy(tmp_path / name, alone / name)
    with pytest.raises(FileNotFoundError, match=r"missing: pair\.member1\.onnx\.data"):
        DoodleClassifier.load(alone / "pair.onnx")
    with pytest.raises(FileNotFoundError, match=r"pair\.member0\.safetensors"):
        load_checkpoint(alone / "pair.safetensors")


def test_an_ensembles_checkpoint_keeps_each_members_weights_apart(tmp_path):
    """One file a member beside the checkpoint, read back whole; saving fewer members over it
    leaves no file of the earlier ones behind."""
    import torch

    path = tmp_path / "e.safetensors"
    for n in (3, 2):
        arch = {"members": [ARCHS["resnet18s"]] * n}
        model = build_model(3, arch)
        save_weights(model, path, {"categories": json.dumps(["a", "b", "c"]), "arch": json.dumps(arch)})
        assert {p.name for p in tmp_path.iterdir()} == {"e.safetensors"} | {
            f"e.member{i}.safetensors" for i in range(n)}
        assert set(load_file(str(path))) == {"temperatures"}
        assert all(k.startswith("members.1.") for k in load_file(str(member_file(path, 1))))
        loaded, _ = load_checkpoint(path)
        for (k, v), w in zip(model.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(v, w), k


def test_the_int8_export_calibrates_on_any_number_of_drawings(tmp_path):
    """Views that do not split into batches of one size (the reference bank of words with fewer
    than 8 validation drawings) still calibrate, and the file served says it is int8."""
    import torch

    model = build_model(3, ARCHS["resnet18s"]).eval()
    x = torch.rand(385, 1, 28, 28)  # 770 views: not three batches of one size
    export_onnx(model, tmp_path / "m.onnx", {"categories": json.dumps(["a", "b", "c"])}, calibration=x)
    clf = DoodleClassifier.load(tmp_path / "m.onnx")
    assert clf.metadata["precision"] == "int8"
    assert clf.logits(np.zeros((2, 784), np.uint8))[0].shape == (2, 3)


def test_train_flags_parse_like_the_config():
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    assert {k: defaults[k] for k in train.CONFIG} == train.CONFIG
    args = parser.parse_args(["--bf16", "--epochs", "3", "--extra", "a", "--extra", "b"])
    assert (args.bf16, args.epochs, args.extra) == (True, 3, ["a", "b"])
    # The model card's reproduce line is made of the same flags.
    line = reproduce_command(vars(args)).split("#")[0].split()
    assert line[4:] == ["--epochs", "3", "--bf16", "--extra", "a", "--extra", "b"]
    assert vars(parser.parse_args(line[4:])) == vars(args)


def test_metrics_are_kaggles_map3():
    from training.evaluate import metrics
    probs = np.array([[0.7, 0.2, 0.1, 0.0], [0.2, 0.7, 0.1, 0.0], [0.1, 0.2, 0.7, 0.0], [0.4, 0.3, 0.2, 0.1]])
    y = np.array([0, 0, 0, 3])  # hit at rank 1, 2, 3, and a miss
    m = metrics(probs, y)
    assert m["top1"] == 0.25 and m["top3"] == 0.75
    assert m["map3"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)


def test_thin_word_losses_say_where_the_big_words_misses_go():
    from training.evaluate import thin_word_losses
    cats = ["cat", "bicycle", "motorbike", "anvil"]
    probs = np.array([[0.6, 0.1, 0.2, 0.1],   # cat: right
                      [0.3, 0.2, 0.4, 0.1],   # bicycle -> motorbike; among the big words, cat
                      [0.1, 0.3, 0.5, 0.1],   # bicycle -> motorbike; among the big words, right
                      [0.1, 0.2, 0.1, 0.6]])  # cat -> anvil; among the big words, bicycle
    y = np.array([0, 1, 1, 0])
    losses = thin_word_losses(cats, probs, y, big=[0, 1])
    assert losses["n"] == 4
    assert losses["top1_within_big_words"] == 0.5
    assert losses["share_taken_by_thin_words"] == 0.75
    assert losses["thin_words"] == [("motorbike", 2), ("anvil", 1)]
    assert thin_word_losses(cats, probs[:0], y[:0], big=[0, 1]) == {"n": 0}
