"""The protocol's vocabulary, one for every transport (docs/protocol.md, docs/classroom.md):
the error codes, the limits on what a client may send, the refusal every handler raises and
the recognition rule. Plain Python; refusals are worded through flask_babel's gettext, in the
language of the request being handled (a socket event runs in its connection's;
game/i18n.py), in English outside any request.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence


Clock = Callable[[], float]

# Error codes, exactly as docs/protocol.md lists them: the solo game's, and every transport's.
BAD_PAYLOAD = "bad_payload"
TOO_MANY_POINTS = "too_many_points"
RATE_LIMITED = "rate_limited"
NOT_YOUR_GAME = "not_your_game"
NOT_STARTED = "not_started"
ROUND_OVER = "round_over"
NO_GAME = "no_game"
SERVER_ERROR = "server_error"
UNKNOWN_EVENT = "unknown_event"  # an event no handler takes, or a name Socket.IO reserves

MAX_ROUNDS = 12
MAX_ID = 64  # characters in a game id, a token or an echoed event name
GUESSES = 5  # top guesses a `guess` event shows
MIN_SECONDS, MAX_SECONDS = 5, 60
# The recognition rule's operating point: benchmarks/recognition.py chooses it on validation
# drawings (docs/protocol.md, "Recognition rule").
RECOGNITION_THRESHOLD = 0.41
MAX_POINTS_PER_MESSAGE = 500
MAX_POINTS_PER_DRAWING = 5_000
MAX_STROKES = 1_000  # game.ink refuses drawings with more
MAX_COORDINATE = 1e6  # screen pixels and milliseconds; game.ink refuses beyond 1e7
MAX_WORDS = 1_000
RESUME_SECONDS = 30.0


class GameError(Exception):
    """A refused command; `code` is one of the protocol's error codes, `message` says it
    to the player in their language."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_NUMBER_TYPES = frozenset((int, float))  # not bool (an int subclass): JSON true is not a number


def is_number(v) -> bool:
    return type(v) in _NUMBER_TYPES


def finite_numbers(values: list) -> bool:
    """Every one of the (non-empty) `values` an int or float, finite, of at most
    MAX_COORDINATE in size: an ink message's values, or a contributed stroke's xs, ys or
    ts. Whole-list passes in C (type set, isfinite, min, max): 70 % of the time of a
    Python loop over a contribution's points, as fast over an ink message's."""
    kinds = set(map(type, values))
    if not kinds <= _NUMBER_TYPES:
        return False
    try:
        # NaN would make min and max meaningless: refused first.
        if float in kinds and not all(map(math.isfinite, values)):
            return False
    except OverflowError:  # an int too large for a float
        return False
    return -MAX_COORDINATE <= min(values) and max(values) <= MAX_COORDINATE


def is_recognized(guesses: Sequence[tuple[str, float]], word: str, threshold: float) -> bool:
    """The recognition rule (docs/protocol.md): `word` is the top guess with p >= threshold.
    The one definition: the solo game, the classroom and contributions all judge by it."""
    return bool(guesses) and guesses[0][0] == word and guesses[0][1] >= threshold


# The classroom's error codes (docs/classroom.md).
NO_ROOM = "no_room"  # wrong or expired code
NOT_HOST = "not_host"  # a host control without the host token
BAD_NICKNAME = "bad_nickname"  # empty, too long, markup, control characters, rude
NICKNAME_TAKEN = "nickname_taken"
ROOM_FULL = "room_full"
KICKED = "kicked"  # the teacher removed this player
NO_PLAYER = "no_player"  # unknown player id or token
NOT_PLAYING = "not_playing"  # a late joiner, until the next round
NOT_YOUR_TURN = "not_your_turn"  # pictionary: the drawer guessing, or someone else drawing
WRONG_PHASE = "wrong_phase"  # e.g. start twice, pause in the lobby, guesses in race mode
PAUSED = "paused"
UNKNOWN_WORDS = "unknown_words"  # the teacher's deck names words the model does not know
NOT_ENOUGH_PLAYERS = "not_enough_players"
TOO_MANY_ROOMS = "too_many_rooms"
TOO_MANY_ROOMS_FROM_YOU = "too_many_rooms_from_you"  # rooms_per_client reached from this address
ELSEWHERE = "elsewhere"  # several servers: create the room on the one the refusal's `route` names

# Teaching the AI a new word (docs/classroom.md, "Teaching the AI a word").
MIN_TEACH_DRAWINGS = 3  # fewer, and the AI would learn one child's idea of the word
MAX_TAUGHT_WORDS = 20  # a room's
BAD_WORD = "bad_word"  # a word to teach: empty, too long, markup, control characters, rude
KNOWN_WORD = "known_word"  # the AI knows it already (the refusal's `word` says as which)
TOO_MANY_WORDS = "too_many_words"  # MAX_TAUGHT_WORDS reached
TOO_FEW_DRAWINGS = "too_few_drawings"  # a teach round's end: fewer than MIN_TEACH_DRAWINGS drawings
CANNOT_TEACH = "cannot_teach"  # the server's model has no reference bank to teach against
