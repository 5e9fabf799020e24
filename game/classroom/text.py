"""The classroom's text: typed guesses matched to the word (any language's name, typos,
plurals, articles), nicknames and taught words cleaned, nicknames told apart (Unicode's
confusables), rude words refused. Plain Python; refusals through flask_babel's gettext (game/protocol.py)."""
from __future__ import annotations

import itertools
import json
import re
import unicodedata
from importlib.resources import files
from pathlib import Path
from typing import Iterable, Mapping

from flask_babel import gettext as _

from game.i18n import fold
from game.protocol import BAD_NICKNAME, BAD_WORD, GameError

ROOT = Path(__file__).resolve().parents[2]
RUDE_WORDS_PATH = ROOT / "data" / "rude_words.txt"

MAX_NICKNAME = 20
MAX_WORD = 30  # a taught word (the longest of the 345 has 23 characters)
MAX_GUESS = 40
CORRECT, ALMOST, WRONG = "correct", "almost", "wrong"

# Leading words a guess may have or leave out: English's "the" (the categories have "The
# Mona Lisa"); a room adds the articles of its languages' category lists ("una", "la").
ARTICLES = frozenset({"the"})


def guess_key(text: str, articles: frozenset[str] = ARTICLES) -> str:
    """A guess or a word as compared: folded, letters and digits only, and no leading
    article."""
    words = re.findall(r"\w+", fold(text).replace("_", " "))
    if len(words) > 1 and words[0] in articles:
        words = words[1:]
    return "".join(words)


def articles_of(names: Mapping[str, Mapping[str, tuple[str, str]]]) -> frozenset[str]:
    """The articles in category lists ({locale: {category: (name, phrase)}}): what a phrase
    adds before its name ("una" of "bicicleta|una bicicleta"), folded."""
    found = {fold(phrase[: -len(name)].strip()) for pairs in names.values() for name, phrase in pairs.values()
             if phrase != name and phrase.endswith(name)}
    return ARTICLES | {a for a in found if a and " " not in a}


def _within(a: str, b: str, limit: int) -> bool:
    """Whether a and b are at most `limit` edits apart (insert, delete, substitute, or
    swap two neighbours: the usual typos)."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        if min(row) > limit:
            return False  # every path through this row is already too long
        prev2, prev = prev, row
    return prev[-1] <= limit


def match_guess(text: str, word: str, also: Iterable[str] = (), articles: frozenset[str] = ARTICLES) -> str:
    """A typed guess against the word and its names in other languages (`also`): CORRECT
    when equal to one ignoring case, accents, spaces, punctuation and a leading article;
    ALMOST for a plural (s/es, either way) or a typo (1 edit for words of 4+ letters, 2
    for 8+); WRONG otherwise."""
    guess = guess_key(text, articles)
    if not guess:
        return WRONG
    verdicts = {_match(guess, guess_key(target, articles)) for target in (word, *also)}
    return CORRECT if CORRECT in verdicts else ALMOST if ALMOST in verdicts else WRONG


def _match(guess: str, target: str) -> str:
    if guess == target:
        return CORRECT
    if guess in (target + "s", target + "es") or target in (guess + "s", guess + "es"):
        return ALMOST
    typos = 2 if len(target) >= 8 else 1 if len(target) >= 4 else 0
    return ALMOST if typos and _within(guess, target, typos) else WRONG


def clean_nickname(raw) -> str:
    """The nickname as shown: NFC, trimmed, inner whitespace collapsed. Markup (< > &)
    and control or invisible characters are refused rather than stripped, so what the
    student typed is what the class sees."""
    return _cleaned(raw, MAX_NICKNAME, lambda message: GameError(BAD_NICKNAME, message), {
        "type": _("The nickname must be text."),
        "long": _("Nicknames are at most %(max)s characters.", max=MAX_NICKNAME),
        "empty": _("Type a nickname."),
        "markup": _("A nickname cannot contain <, > or &."),
        "control": _("A nickname cannot contain control or invisible characters.")})


def clean_word(raw) -> str:
    """A word the teacher teaches the AI, cleaned and refused as nicknames are."""
    word = _cleaned(raw, MAX_WORD, lambda message: GameError(BAD_WORD, message), {
        "type": _("The word must be text."),
        "long": _("Words are at most %(max)s characters.", max=MAX_WORD),
        "empty": _("Type a word to teach."),
        "markup": _("A word cannot contain <, > or &."),
        "control": _("A word cannot contain control or invisible characters.")})
    if any(c in "/\\" for c in word):  # the open dataset's file of the word's drawings is named by it
        raise GameError(BAD_WORD, _("A word cannot contain / or \\."))
    return word


def _cleaned(raw, limit: int, refusal, messages: dict[str, str]) -> str:
    if not isinstance(raw, str):
        raise refusal(messages["type"])
    if len(raw) > 4 * limit:  # refuse a 10,000-character paste before any work
        raise refusal(messages["long"])
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise refusal(messages["empty"])
    if len(name) > limit:
        raise refusal(messages["long"])
    if any(c in "<>&" for c in name):
        raise refusal(messages["markup"])
    if any(unicodedata.category(c).startswith("C") and not _joins_emoji(name, i) for i, c in enumerate(name)):
        raise refusal(messages["control"])
    return name


def _joins_emoji(name: str, i: int) -> bool:
    """Whether name[i] is a zero-width joiner inside an emoji sequence (👨‍👩‍👧, ❤️‍🔥): an
    invisible character that draws one picture, not one that hides a difference."""
    return name[i] == "\u200d" and 0 < i < len(name) - 1 and _emoji_part(name[i - 1]) and _emoji_part(name[i + 1])


def _emoji_part(c: str) -> bool:
    return unicodedata.category(c) in ("So", "Sk") or c == "\ufe0f"  # a symbol, a skin tone, emoji style


def _load_confusables() -> dict[str, str]:
    """Each character's prototype in Unicode's confusables (UTS #39), as confusable_homoglyphs
    ships them: a character that looks like another maps to it ("а" Cyrillic -> "a")."""
    table = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    looks = {c: [h["c"] for h in homoglyphs] for c, homoglyphs in table.items()}
    prototypes = {}
    for c, like in looks.items():
        # A source lists only its prototype, which lists it back; a pair that lists only each
        # other has no direction, so both map to the smaller.
        if len(c) == 1 and len(like) == 1 and c in looks.get(like[0], ()):
            prototypes[c] = min(c, like[0]) if looks[like[0]] == [c] else like[0]
    return prototypes


_confusables: dict[str, str] | None = None


def nickname_key(name: str) -> str:
    """What two nicknames share when a class would take them for the same name: case folded
    and Unicode's confusables skeleton (UTS #39), so "Аna" in Cyrillic is "Ana"."""
    global _confusables
    if _confusables is None:
        _confusables = _load_confusables()
    def skeleton(text: str) -> str:
        mapped = "".join(_confusables.get(c, c) for c in unicodedata.normalize("NFD", text))
        return unicodedata.normalize("NFD", mapped)
    # Case first ("IAN" is "ian", though "I" alone looks like "l"), and again after the
    # skeleton, whose prototypes may be capitals ("𝐀" -> "A").
    return skeleton(skeleton(name.casefold()).casefold())


# Leetspeak read as letters; "1" is tried as both i and l.
_LEET = str.maketrans({"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                       "|": "l", "+": "t"})


class RudeFilter:
    """Nickname filter over a word list (data/rude_words.txt explains its format).

    An entry becomes a pattern where each run of a letter matches that many or more
    ("ass" is a+s{2,}: "aaasss" yes, "as" no), so repeated letters cannot dodge it."""

    def __init__(self, entries: Iterable[str]):
        whole, anywhere = [], []
        for line in entries:
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            letters = "".join(re.findall(r"[a-z]", fold(entry.rstrip("*"))))
            pattern = "".join(f"{c}{{{len(list(run))},}}" for c, run in itertools.groupby(letters))
            (anywhere if entry.endswith("*") else whole).append(pattern)
        never = "(?!)"
        self._anywhere = re.compile("|".join(anywhere) or never)
        self._whole = re.compile(f"(?:{'|'.join(whole) or never})(?:e?s+)?")  # plurals too

    @classmethod
    def load(cls, path: str | Path = RUDE_WORDS_PATH) -> "RudeFilter":
        return cls(Path(path).read_text(encoding="utf-8").splitlines())

    def is_rude(self, text: str) -> bool:
        # camelCase is split first ("BigAss"), before case is folded away.
        folded = fold(re.sub(r"([a-z])([A-Z])", r"\1 \2", text)).translate(_LEET)
        for one in "il":
            words = re.findall(r"[a-z]+", folded.replace("1", one))
            # The words, and all of them run together: "f u c k", "f.u.c.k", "hijo de puta";
            # each also as it sounds ("phuck").
            for candidate in words + ["".join(words)]:
                for spelling in {candidate, candidate.replace("ph", "f")}:
                    if self._anywhere.search(spelling) or self._whole.fullmatch(spelling):
                        return True
        return False


