"""The doodle classifier at inference: a drawing in, calibrated guesses out.

    clf = DoodleClassifier.load()          # the shipped model; .load(path) for another
    clf.classify(drawing, k=5)             # -> [(word, probability), ...] best first
    clf.classify_batch(drawings, k=5)      # -> one such list per drawing
    clf.classify_bitmaps(bitmaps, k=5)     # Google numpy_bitmap rows, uint8 (N, 784)
    clf.logits_batch(drawings)             # (calibrated logits, embeddings): a taught word's input
    clf.categories                         # the 345 words, model order

The served model is an ONNX file that training exports (training/model.py: the network
and its metadata), run by onnxruntime: serving never imports torch, which would cost the
model's process most of its memory and start-up.

Each drawing is classified with its left-right mirror, the two views' logits averaged (a
mirrored doodle is the same word, and two views err less than one), in calls of up to
`mirror_up_to` drawings (every call of the server's batcher, by default). Larger calls, a
server configured with larger batches under load, take one view each, which keeps a call's
cost to what a full batch of single views costs; each way has its own calibration.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from game.model import ink

DATA = Path(__file__).resolve().parents[2] / "data"
DEFAULT_MODEL = DATA / "models" / "doodle-ensemble.onnx"
MIRROR_UP_TO = 16  # the server's largest batch (BATCH_MAX, game/model/service.py): every call it makes


def model_file(path: str | Path) -> Path:
    """`path`, or FileNotFoundError saying how to make one."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file not found: {path} (make one with `python -m training train`; "
                                "the shipped one's commands are in its model card)")
    return Path(path)


def member_file(path: str | Path, i: int) -> Path:
    """Where an ensemble keeps member `i`'s weights beside its checkpoint or ONNX file
    `<stem><suffix>`: `<stem>.member<i><suffix>`, `.data` after it for ONNX (external data)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.member{i}{path.suffix}" + (".data" if path.suffix == ".onnx" else ""))


def served_files(path: str | Path, metadata: dict[str, str]) -> list[Path]:
    """The files a served model at `path` is made of: itself and the weight files its
    `metadata` names (an ensemble's, one a member)."""
    path = Path(path)
    return [path, *(path.parent / f for f in json.loads(metadata.get("weights", "{}")))]


def _session(path: Path, threads: int):
    import onnxruntime as ort

    model_file(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about shapes it re-checks per call are not ours to see
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own classes, one per kind of bad file
        if missing := _missing_weights(path):
            raise FileNotFoundError(f"{path} runs on weights kept beside it, missing: {', '.join(missing)} "
                                    "(copy the model's files together)") from None
        raise ValueError(f"{path} is not an ONNX model that onnxruntime can run "
                         f"(a .safetensors checkpoint is exported by `python -m training train`): {e}") from None


def _missing_weights(path: Path) -> list[str]:
    """The weight files (ONNX external data) that the model at `path` names and its folder lacks."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # not an ONNX file at all: onnxruntime's error says so
        return []
    named = {e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"}
    return sorted(f for f in named if not (path.parent / f).is_file())


def _metadata(session, path: Path) -> dict[str, str]:
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if "categories" not in meta:
        raise ValueError(f"{path} is not a Doodle Lab model (no categories in its metadata)")
    return meta


class DoodleClassifier:
    def __init__(self, session, metadata: dict[str, str], mirror_up_to: int | None = MIRROR_UP_TO):
        self.session = session
        self.metadata = metadata
        self.categories = json.loads(metadata["categories"])
        self.temperature = float(metadata.get("temperature", 1.0))  # the mirror views'
        self.one_view_temperature = float(metadata.get("one_view_temperature", self.temperature))
        self.mirror_up_to = mirror_up_to  # None: every call
        self._input = session.get_inputs()[0].name
        outputs = session.get_outputs()
        if [o.name for o in outputs] != ["logits", "embedding"]:
            raise ValueError("the model has no embedding output: export it again with `python -m training export`")
        self.features = outputs[1].shape[1]

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 0,
             mirror_up_to: int | None = MIRROR_UP_TO) -> "DoodleClassifier":
        """The model at `path` (default: the shipped one), computing on `threads` cores
        (0: onnxruntime's choice, every physical core), with the mirror view in calls of up
        to `mirror_up_to` drawings (None: in every call, as the offline measurements use it)."""
        path = Path(path) if path else DEFAULT_MODEL
        session = _session(path, threads)
        return cls(session, _metadata(session, path), mirror_up_to)

    def logits(self, bitmaps) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated logits (N, categories) and embeddings (N, features) for Google-style
        bitmaps, each averaged over the two views where the mirror is used."""
        x = np.asarray(bitmaps, dtype=np.uint8).reshape(-1, 1, ink.SIDE, ink.SIDE)
        n = len(x)
        if n == 0:
            return np.zeros((0, len(self.categories)), np.float32), np.zeros((0, self.features), np.float32)
        mirror = self.mirror_up_to is None or n <= self.mirror_up_to
        if mirror:
            x = np.concatenate([x, x[..., ::-1]])
        logits, embeddings = self.session.run(None, {self._input: x.astype(np.float32) / 255.0})
        if mirror:
            logits, embeddings = (logits[:n] + logits[n:]) / 2, (embeddings[:n] + embeddings[n:]) / 2
        return logits / (self.temperature if mirror else self.one_view_temperature), embeddings

    def logits_batch(self, drawings) -> tuple[np.ndarray, np.ndarray]:
        """`logits` of drawings (as classify_batch takes them)."""
        return self.logits(ink.to_bitmaps(_listed(drawings)))

    def probabilities(self, bitmaps) -> np.ndarray:
        """Calibrated probabilities, (N, categories), for Google-style bitmaps."""
        return softmax(self.logits(bitmaps)[0])

    def _top(self, probs: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        return top(probs, self.categories, k)

    def classify(self, drawing, k: int = 5) -> list[tuple[str, float]]:
        return self.classify_batch([drawing], k)[0]

    def classify_batch(self, drawings, k: int = 5) -> list[list[tuple[str, float]]]:
        return self._top(self.probabilities(ink.to_bitmaps(_listed(drawings))), k)

    def simplify_and_classify(self, drawings, k: int = 5) -> list[tuple[list, list[tuple[str, float]]]]:
        """(Google's simplified drawing, guesses) for each drawing: classify_batch's guesses,
        with the simplification they were made from (one pass of the ink pipeline for both)."""
        simplified, bitmaps = ink.simplify_and_render(_listed(drawings))
        return list(zip(simplified, self._top(self.probabilities(bitmaps), k)))

    def classify_bitmaps(self, bitmaps, k: int = 5) -> list[list[tuple[str, float]]]:
        arr = np.asarray(bitmaps)
        if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != ink.SIDE * ink.SIDE:
            raise ValueError(f"bitmaps must be uint8 of shape (N, 784) like Google's numpy_bitmap, "
                             f"got {arr.dtype} {arr.shape}")
        return self._top(self.probabilities(arr), k)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    """Per row: log of the sum of exp(logits), the softmax's denominator."""
    top_ = logits.max(axis=1)
    return top_ + np.log(np.exp(logits - top_[:, None]).sum(axis=1))


def top(probs: np.ndarray, names: list[str], k: int) -> list[list[tuple[str, float]]]:
    """The `k` most likely of `names` per row of `probs`, best first."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    idx = np.argsort(-probs, axis=1)[:, :min(k, probs.shape[1])]
    return [[(names[j], float(p[j])) for j in row] for p, row in zip(probs, idx)]


def _listed(drawings) -> list:
    if not isinstance(drawings, (list, tuple)):
        raise ValueError(f"drawings must be a list of drawings, got {type(drawings).__name__}")
    return list(drawings)
