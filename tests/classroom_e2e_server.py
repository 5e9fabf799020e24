"""The classroom's end-to-end server: the real app on a free port, with a fake classifier
that reads a drawing's number of strokes (2: "cat", 3: "dog", 4: "teddy-bear" at 30 %, below
the recognition threshold, else "anvil" at 30 %), so a browser test decides what the AI sees
by how many strokes a phone draws. "teddy-bear" is a word whose id is not its name ("teddy
bear").

With a folder, the shipped model instead, its classes' taught words kept in that folder: a
browser test teaches it a word from whatever the phones draw.

    python tests/classroom_e2e_server.py PORT [TAUGHT_WORDS_FOLDER]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from game.model import ink  # noqa: E402

WORDS = ["cat", "dog", "anvil", "sun", "tree", "house", "teddy-bear"]
SEEN = {2: "cat", 3: "dog", 4: "teddy-bear"}
SURE = {"cat": 0.9, "dog": 0.9, "teddy-bear": 0.3}  # the rest: anvil at 0.3


class StrokeCounter:
    categories = WORDS

    def classify_batch(self, drawings, k=5):
        out = []
        for drawing in drawings:
            word = SEEN.get(len(drawing), "anvil")
            p = SURE.get(word, 0.3)
            rest = [w for w in WORDS if w != word]
            out.append([(word, p)] + [(w, (1 - p) / len(rest)) for w in rest][: k - 1])
        return out

    def simplify_and_classify(self, drawings, k=5):
        """What consented classroom drawings are stored through: Google's simplification (the
        real ink pipeline) beside these guesses."""
        return list(zip([ink.simplify(d) for d in drawings], self.classify_batch(drawings, k)))


def main(port: int, taught: str | None = None) -> None:
    from game.app import create_app
    from game.extensions import socketio

    model = ({"CLASSROOM_TAUGHT_PATH": str(Path(taught) / "taught_words.json")} if taught
             else {"CLASSIFIER": StrokeCounter(), "DECK": WORDS})
    app = create_app({**model,
                      # rooms_per_client: every browser test's teacher is 127.0.0.1, on one server.
                      "CLASSROOM_ROOM": {"starts_in": 1.0, "break_seconds": 2.0, "rooms_per_client": 50}})
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:])
