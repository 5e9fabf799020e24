"""The projector's mosaic: every drawing of the round at once, updated a few times a second
(CLASSROOM_MOSAIC_INTERVAL) with only what changed. Plain Python, as the rules."""
from __future__ import annotations

import threading

from game.classroom.rules import HOST, Room


class Mosaic:
    """What each room's projector has been sent. `update(room)` is the next `mosaic` event's
    payload: per drawing that changed, the points added since the last update (or the
    whole drawing after an undo, a clear or a new round) and the AI's current top guess;
    None when nothing changed. Thread-safe."""

    def __init__(self):
        self._sent: dict[tuple[str, str], tuple] = {}  # (code, who) -> what the projector has
        self._lock = threading.Lock()

    def forget(self, code: str) -> None:
        """The projector (re)connected or the room closed: its next update carries every drawing whole."""
        with self._lock:
            self._sent = {k: v for k, v in self._sent.items() if k[0] != code}

    def update(self, room: Room) -> dict | None:
        """The caller holds room.lock."""
        r = room.round
        if r is None:
            return None
        snap = room.snapshot(HOST)
        status = {p["id"]: p for p in snap["players"]}
        entries = []
        with self._lock:
            for who, game in r.drawings.items():
                g = game.round
                guess, recognized = room.mode.mosaic_guess(r, who, status.get(who, {}), snap)
                key, lengths = (room.code, who), [len(s[0]) for s in g.strokes]
                sent = self._sent.get(key)
                fresh = sent is None or sent[:2] != (r.index, g.epoch)
                if not fresh and sent[2] == lengths and sent[3] == (guess, recognized):
                    continue
                old = [] if fresh else sent[2]
                strokes = [[i, s[0][old[i] if i < len(old) else 0:], s[1][old[i] if i < len(old) else 0:]]
                           for i, s in enumerate(g.strokes) if fresh or i >= len(old) or len(s[0]) > old[i]]
                self._sent[key] = (r.index, g.epoch, lengths, (guess, recognized))
                entries.append({"player": who, "reset": fresh, "strokes": strokes, "guess": guess,
                                "recognized": recognized})
        return {"round": r.index, "drawings": entries} if entries else None
