"""The classroom's modes: how a room plays a round. A mode is one class here, registered in
MODES (as a vision task is one entry of its registry), plus its strings and the pages'
handling of its events; the room (`game.classroom.rules.Room`) asks its mode wherever
the two differ, and nothing else names a mode.

- "race": every player draws the same word and the AI judges each drawing on its own;
  being recognized scores, faster scores more;
- "pictionary": one player (or the teacher) draws, the others type guesses; the first
  correct guess scores for guesser and drawer, while the AI guesses the same drawing in
  public and the room records when it got it (class against machine).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from flask_babel import ngettext

from game.protocol import (BAD_PAYLOAD, MIN_TEACH_DRAWINGS, NOT_PLAYING, NOT_YOUR_TURN, TOO_FEW_DRAWINGS, GameError,
                           is_recognized)
from game.solo.rules import OVER

if TYPE_CHECKING:
    from game.classroom.rules import Room, RoomRound

def N_(message: str) -> str:
    """Marks `message` for the catalogues (gettext's idiom); the page translates it when shown."""
    return message


# Points: BASE for getting there, plus up to SPEED for the share of the round's clock left.
BASE_POINTS, SPEED_POINTS = 50, 50


def speed_points(elapsed: float, seconds: float) -> int:
    """50 for being recognized (or guessing right), plus up to 50 for the time left:
    100 at once, 75 halfway, 50 on the bell."""
    left = min(max(seconds - elapsed, 0.0), seconds)
    return BASE_POINTS + round(SPEED_POINTS * left / seconds)


class Mode:
    """The race's rules, which the other modes change where they differ."""

    name = ""
    title = ""  # the teacher's settings list it by this...
    description = ""  # ...and the create form by this (both translated where shown: N_)
    typed_guesses = False  # the players type guesses (`guess` events)
    drawings_public = True  # every screen may see each drawing's ink and the AI's guess of it

    # One player draws each round for the others to guess (Room.next_drawer's turn);
    # otherwise every player draws their own.
    one_drawer = False
    ai_guesses = True  # the AI guesses each drawing as it is drawn
    listed = True  # a game's mode the teacher chooses (not teach: its own form)

    def min_players(self, room: Room) -> int:
        return 1

    def seconds(self, room: Room) -> float:
        """A round's drawing time."""
        return room.settings.seconds

    def engine_threshold(self, threshold: float) -> float:
        """The recognition threshold each drawing's engine game ends its round at."""
        return threshold

    def shows_word(self, room: Room, r: RoomRound, viewer: str | None) -> bool:
        return True

    def judge(self, room: Room, r: RoomRound, guesses, verdict: bool, elapsed: float) -> bool:
        """The verdict a drawing's player hears on the AI's `guesses`, which its engine game
        judged `verdict`, `elapsed` seconds into round `r`."""
        return verdict

    def on_recognized(self, room: Room, r: RoomRound, player_id: str, elapsed: float) -> None:
        """The AI recognized `player_id`'s drawing (after its `guess` event went out)."""
        room.score_recognized(r, player_id, elapsed)

    def round_may_end(self, room: Room, r: RoomRound) -> str | None:
        """Why round `r` ends now that a player left it (None: it goes on)."""
        return "all_recognized" if room.all_recognized(r) else None

    def not_drawing(self, room: Room, r: RoomRound) -> GameError:
        """The refusal for ink from a player without a drawing in round `r`."""
        return GameError(NOT_PLAYING, _("you joined during this round: you play from the next one"))

    def ai_view(self, room: Room, r: RoomRound) -> str | None:
        """The player whose drawing the whole room watches the AI guess (the snapshot's `ai`), if any."""
        return None

    def result(self, room: Room, r: RoomRound) -> dict:
        """What round `r`'s result (and its gallery entry) adds to the players' results."""
        return {}

    def mosaic_guess(self, r: RoomRound, who: str, player: dict, snapshot: dict) -> tuple[dict | None, bool]:
        """The projector's mosaic for `who`'s drawing (`player`: their entry in the host's
        `snapshot`): the AI's top guess shown, and whether it recognized the drawing."""
        return player.get("guess"), who in r.recognized

    def round_over(self, room: Room, r: RoomRound) -> None:
        """Round `r` just ended (its `round_over` event is out)."""


class Race(Mode):
    name = "race"
    title = N_("Race the AI")
    description = N_("Race the AI: everyone draws the same word")


class Pictionary(Mode):
    name = "pictionary"
    title = N_("Pictionary")
    description = N_("Pictionary: one draws, the class guesses, against the AI")
    one_drawer = True
    typed_guesses = True
    drawings_public = False

    def min_players(self, room: Room) -> int:
        return 1 if room.host_draws else 2  # a drawer and a guesser; the teacher may be the drawer

    def engine_threshold(self, threshold: float) -> float:
        # The engine must not end the drawing when the AI gets it (the class is still
        # guessing): out of reach, and `judge` applies the rule instead.
        return math.inf

    def shows_word(self, room: Room, r: RoomRound, viewer: str | None) -> bool:
        return viewer == r.drawer or r.state == OVER

    def judge(self, room: Room, r: RoomRound, guesses, verdict: bool, elapsed: float) -> bool:
        # The drawing goes on after the AI gets it (its game never ends a round): judged here.
        verdict = is_recognized(guesses, r.word, room.settings.threshold)
        if verdict and r.ai_seconds is None:
            r.ai_seconds = elapsed
            room.emit(None, "ai_got_it", {"round": r.index, "seconds": elapsed})
        return verdict

    def on_recognized(self, room: Room, r: RoomRound, player_id: str, elapsed: float) -> None:
        pass  # the class scores by guessing; the AI's time is in the result

    def round_may_end(self, room: Room, r: RoomRound) -> str | None:
        return None

    def not_drawing(self, room: Room, r: RoomRound) -> GameError:
        return GameError(NOT_YOUR_TURN, _("%(name)s is drawing: type your guesses", name=room.nickname(r.drawer)))

    def ai_view(self, room: Room, r: RoomRound) -> str | None:
        return r.drawer

    def result(self, room: Room, r: RoomRound) -> dict:
        first = None
        if r.class_seconds is not None or r.ai_seconds is not None:
            # Who got there first: the class or the machine (a tie goes to the class).
            first = "class" if r.ai_seconds is None or (r.class_seconds is not None
                                                          and r.class_seconds <= r.ai_seconds) else "ai"
        return {"drawer": r.drawer, "drawer_nickname": room.nickname(r.drawer), "guessed_by": r.guessed_by,
                "guesser_nickname": room.nickname(r.guessed_by), "class_seconds": r.class_seconds,
                "ai_seconds": r.ai_seconds, "first": first}

    def mosaic_guess(self, r: RoomRound, who: str, player: dict, snapshot: dict) -> tuple[dict | None, bool]:
        guesses = snapshot.get("ai", {}).get("guesses") or []
        return (guesses[0] if guesses else None), r.ai_seconds is not None


class Teach(Mode):
    name = "teach"
    ai_guesses = False  # it does not know the word yet
    listed = False
    SECONDS = 20.0

    def seconds(self, room: Room) -> float:
        return self.SECONDS

    def engine_threshold(self, threshold: float) -> float:
        return math.inf  # nothing is recognized: the drawings are the lesson

    def round_may_end(self, room: Room, r: RoomRound) -> str | None:
        return None

    def mosaic_guess(self, r: RoomRound, who: str, player: dict, snapshot: dict) -> tuple[dict | None, bool]:
        return None, False

    def result(self, room: Room, r: RoomRound) -> dict:
        return {"drawings": len(room.teach_drawings(r))}

    def round_over(self, room: Room, r: RoomRound) -> None:
        # The transport hears `learning` and runs the model; `Room.learned` ends the lesson.
        drawings = len(room.teach_drawings(r))
        if drawings >= MIN_TEACH_DRAWINGS:
            room.emit(None, "learning", {"word": r.word, "drawings": drawings})
            return
        need = MIN_TEACH_DRAWINGS - drawings
        room.emit(None, "teach_failed", {
            "word": r.word, "drawings": drawings, "needed": need, "code": TOO_FEW_DRAWINGS,
            "message": ngettext("The AI needs %(num)s more drawing to learn a word: teach it again.",
                                "The AI needs %(num)s more drawings to learn a word: teach it again.", need)})


MODES: dict[str, Mode] = {mode.name: mode for mode in (Race(), Pictionary(), Teach())}
RACE, PICTIONARY, TEACH = Race.name, Pictionary.name, Teach.name


def mode_named(name) -> Mode:
    """A game's mode, as the teacher chooses it (the teach mode is `Room.teach`'s)."""
    if name not in MODES or not MODES[name].listed:
        raise GameError(BAD_PAYLOAD, _("mode must be one of %(modes)s",
                                       modes=", ".join(n for n, m in MODES.items() if m.listed)))
    return MODES[name]
