"""game.model.classifier: the shipped model on held-out drawings, the API's shapes, and bad input."""
import json
import math

import numpy as np
import pytest

from game.model import ink
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier, served_files
from game.words import load_categories
from training import data


@pytest.fixture(scope="module")
def clf():
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"the shipped model is missing: {DEFAULT_MODEL}")
    return DoodleClassifier.load()


@pytest.fixture(scope="module")
def held_out(quickdraw_dir):
    """The test split of a few big categories (thousands of drawings) and a few thin ones."""
    words = ["cat", "bicycle", "house", "rainbow", "snowman", "whale", "windmill",
             "anvil", "The Eiffel Tower", "umbrella", "zigzag", "lightning"]
    _, splits = data.load(quickdraw_dir, words, log=lambda *a: None)
    return words, splits["test"]


def test_categories_are_googles_list(clf):
    assert clf.categories == list(load_categories())
    assert len(clf.categories) == 345


def test_shipped_model_is_small(clf):
    """The issue's budget is 50 MB a model; the repository keeps no file over 25 MB, so an
    ensemble's weights lie one file a member beside it."""
    files = served_files(DEFAULT_MODEL, clf.metadata)
    assert len(files) == 3  # the graph and two networks' weights
    assert sum(f.stat().st_size for f in files) <= 50 * 1024 * 1024
    assert max(f.stat().st_size for f in DEFAULT_MODEL.parent.iterdir()) <= 25 * 1024 * 1024


def test_held_out_strokes_far_above_chance(clf, held_out):
    words, test = held_out
    # The game's path: the raw drawing (screen pixels) where there is one.
    drawings = [r if r is not None else d for d, r in zip(test.drawings, test.raw)]
    guesses = clf.classify_batch(drawings, k=3)
    truth = [clf.categories[y] for y in test.drawing_labels]
    top1 = np.mean([g[0][0] == t for g, t in zip(guesses, truth)])
    top3 = np.mean([t in [w for w, _ in g] for g, t in zip(guesses, truth)])
    assert len(truth) >= 20
    assert top1 >= 0.5 and top3 >= 0.7  # chance is 1/345


def test_held_out_big_category_bitmaps(clf, held_out):
    _, test = held_out
    guesses = clf.classify_bitmaps(np.stack(test.bitmaps), k=1)
    right = np.array([g[0][0] == clf.categories[y] for g, y in zip(guesses, test.bitmap_labels)])
    sources = np.array(test.bitmap_sources)
    assert (sources == "numpy_bitmap").sum() > 500
    # Google's rows, in the game's style: far above chance (1/345); the model card reports the
    # measured figure. The png rows are another renderer's (trained on restyled), above chance still.
    assert right[sources == "numpy_bitmap"].mean() >= 0.6
    assert right[sources == "png_bitmap"].mean() >= 0.05


def test_served_model_is_the_checkpoint_with_its_mirror(clf, held_out):
    """The ONNX file the game serves computes what the training checkpoint beside it does,
    within int8 quantization's error: with the mirror view (training.model.MirrorViews) in
    calls of up to MIRROR_UP_TO drawings, one view beyond (the server under load), each with
    its own temperature."""
    import torch

    from game.model.classifier import MIRROR_UP_TO
    from training.model import MirrorViews, load_checkpoint
    _, test = held_out
    rows = np.stack(test.bitmaps[:300])
    model, meta = load_checkpoint(DEFAULT_MODEL.with_suffix(".safetensors"))
    assert json.loads(meta["categories"]) == clf.categories and float(meta["temperature"]) == clf.temperature
    assert float(meta["one_view_temperature"]) == clf.one_view_temperature != clf.temperature
    x = torch.from_numpy(rows.reshape(-1, 1, 28, 28)).float() / 255
    with torch.no_grad():
        both = torch.softmax(MirrorViews(model)(x) / clf.temperature, 1).numpy()
        one = torch.softmax(model(x) / clf.one_view_temperature, 1).numpy()
    served_both = DoodleClassifier.load(mirror_up_to=None).probabilities(rows)  # as the offline measurements use it
    served_one = DoodleClassifier.load(mirror_up_to=0).probabilities(rows)
    for served, checkpoint in ((served_both, both), (served_one, one)):
        assert np.abs(served - checkpoint).max() <= 0.15
        assert np.mean(served.argmax(1) == checkpoint.argmax(1)) >= 0.95
    for n in (1, MIRROR_UP_TO):
        assert np.abs(clf.probabilities(rows[:n]) - served_both[:n]).max() <= 1e-5
    for n in (MIRROR_UP_TO + 1, 300):
        assert np.abs(clf.probabilities(rows[:n]) - served_one[:n]).max() <= 1e-5
    assert np.abs(both - one).max() > 0.05  # the mirror view changes the answer


def test_classify_shapes_and_probabilities(clf, held_out):
    _, test = held_out
    drawing = test.raw[0] if test.raw[0] is not None else test.drawings[0]
    top = clf.classify(drawing, k=5)
    assert len(top) == 5
    assert all(isinstance(w, str) and w in clf.categories for w, _ in top)
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    # Batched and single forwards may differ in the last float bit.
    for row in clf.classify_batch([drawing, drawing], k=2):
        assert [w for w, _ in row] == [w for w, _ in top[:2]]
        assert [p for _, p in row] == pytest.approx([p for _, p in top[:2]], abs=1e-5)
    assert clf.classify_batch([], k=3) == []
    simplified, guesses = clf.simplify_and_classify([drawing], k=5)[0]
    assert simplified == ink.simplify(drawing) and guesses == top
    # A drawing in 0-255 and the same drawing in screen pixels get the same answer.
    scaled = [[[x * 2.5 + 300 for x in s[0]], [y * 2.5 + 40 for y in s[1]]] for s in test.drawings[0]]
    assert clf.classify(scaled, k=1)[0][0] == clf.classify(test.drawings[0], k=1)[0][0]
    full = clf.probabilities(ink.to_bitmap(drawing)[None])
    assert full.shape == (1, 345) and math.isclose(float(full.sum()), 1.0, rel_tol=1e-4)


def test_load_another_path_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        DoodleClassifier.load(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not an ONNX model"):
        DoodleClassifier.load(junk)
    # A training checkpoint is not what the game serves: the error says what is.
    with pytest.raises(ValueError, match="exported by `python -m training train`"):
        DoodleClassifier.load(DEFAULT_MODEL.with_suffix(".safetensors"))
    # An ONNX model that is not ours (no categories in its metadata).
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(other))
    with pytest.raises(ValueError, match="not a Doodle Lab model"):
        DoodleClassifier.load(other)


@pytest.mark.parametrize("bad", [
    [], None, 42, "cat", [[[1, 2], [3]]], [[[1, float("nan")], [1, 2]]],
    [[list(range(1_000_000)), list(range(1_000_000))]], [[["x"], ["y"]]], [{"x": 1}],
])
def test_bad_drawings_raise_value_error(clf, bad):
    with pytest.raises(ValueError):
        clf.classify(bad)


def test_bad_batches_and_bitmaps(clf):
    with pytest.raises(ValueError, match="list of drawings"):
        clf.classify_batch("not a list")
    with pytest.raises(ValueError):
        clf.classify_batch([[[[0, 1], [0, 1]]], []])
    with pytest.raises(ValueError, match="uint8"):
        clf.classify_bitmaps(np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        clf.classify_bitmaps(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="k must be"):
        clf.classify([[[0, 1], [0, 1]]], k=0)


def test_the_embedding_is_the_checkpoints_and_the_reference_bank_calibrates_a_taught_word(clf, held_out, tmp_path):
    """The served model is the checkpoint's network: exported in float32 it computes the same
    logits and embedding (each network's last stages and pre-logit features, pooled, side by
    side; with the mirror view, averaged as the logits are); served in int8 it stays
    within quantization's error of them. A word imprinted from drawings of one of the 345 (its
    own drawings left out of the bank) tops no more than its share of the bank's other drawings (false_top),
    alone in a room and in a full one."""
    import torch

    from game.model.teach import Reference, false_top, reference_path
    from game.protocol import MAX_TAUGHT_WORDS
    from training.model import WithEmbedding, bitmaps_to_tensor, export_onnx, load_checkpoint, part_widths
    _, test = held_out
    rows = np.stack(test.bitmaps[:64])
    model, meta = load_checkpoint(DEFAULT_MODEL.with_suffix(".safetensors"))
    x = bitmaps_to_tensor(rows)
    with torch.no_grad():
        both = [WithEmbedding(model)(v) for v in (x, x.flip(3))]
    torch_logits, torch_embeddings = (((a + b) / 2).numpy() for a, b in zip(*both))
    export_onnx(model, tmp_path / "float32.onnx", meta)
    float32 = DoodleClassifier.load(tmp_path / "float32.onnx", mirror_up_to=None)
    assert float32.metadata["precision"] == "float32"
    logits, embeddings = float32.logits(rows)
    assert np.abs(embeddings - torch_embeddings).max() <= 1e-4
    assert np.abs(logits * float32.temperature - torch_logits).max() <= 1e-3

    served = DoodleClassifier.load(mirror_up_to=None)  # the mirror view in every call, as above
    assert served.metadata["precision"] == "int8"
    logits, embeddings = served.logits(rows)
    assert logits.shape == (64, 345) and embeddings.shape == (64, clf.features)
    # Each part of it, which the served file weighs (training.model.embedding_weights): the same direction.
    cuts = np.cumsum([w for network in part_widths(model) for w in network])[:-1]
    for mine, theirs in zip(np.split(embeddings, cuts, axis=1), np.split(torch_embeddings, cuts, axis=1)):
        cosines = (mine * theirs).sum(1) / np.linalg.norm(mine, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cosines.min() >= 0.97 and np.median(cosines) >= 0.99  # int8: lite0's part errs a little more
    assert np.mean(logits.argmax(1) == torch_logits.argmax(1)) >= 0.9
    assert np.abs(served.probabilities(rows) - float32.probabilities(rows)).max() <= 0.15
    assert np.allclose(served.probabilities(rows), np.exp(logits) / np.exp(logits).sum(1, keepdims=True), atol=1e-6)
    rows = rows[:8]

    path = reference_path(DEFAULT_MODEL)
    assert path.stat().st_size < 5 * 1024 * 1024
    with np.load(path) as f:
        bank = dict(f)
    cat = clf.categories.index("cat")
    others = bank["labels"] != cat
    reference = Reference(bank["embeddings"][others].astype(np.float32), bank["top_logits"][others],
                          bank["logsumexp"][others], bank["mean"], float(bank["scale"]))
    taught = reference.imprint("cat again", *clf.logits(rows))
    for words in (1, MAX_TAUGHT_WORDS):
        tops = reference.scale * (reference.units @ taught.prototype) + taught.bias(words) > reference.top_logits
        assert tops.mean() <= false_top(words) + 1 / len(tops)
