"""The replay's solo players: each starts games whose prompts it chooses and draws real
drawings in them, half (by default) of another word than the prompt (game/replay/__main__.py)."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from game.replay.client import (Client, ReplayError, client_figures, fetch_words, load_drawings, round_figures,
                                start_all)


def plan_games(drawings: dict[str, list], players: int, games: int, rounds: int, swap: float,
               seed: int) -> list[list[list[dict]]]:
    """For each player, `games` games of `rounds` rounds: each round's prompt, the word
    actually drawn and the drawing. Prompts within a game never repeat."""
    words = sorted(drawings)
    if len(words) < rounds + 1:
        raise ReplayError(f"need drawings of at least {rounds + 1} words, found {len(words)}")
    rng = random.Random(seed)
    cursor = {w: rng.randrange(len(d)) for w, d in drawings.items()}
    plans = []
    for _ in range(players):
        player = []
        for _ in range(games):
            drawn = rng.sample(words, rounds)
            others = [w for w in words if w not in drawn]
            game = []
            for word in drawn:
                swapped = rng.random() < swap
                prompt = others.pop(rng.randrange(len(others))) if swapped and others else word
                cursor[word] = (cursor[word] + 1) % len(drawings[word])
                game.append({"prompt": prompt, "word": word, "drawing": drawings[word][cursor[word]],
                             "swapped": prompt != word})
            player.append(game)
        plans.append(player)
    return plans


# --- a client ------------------------------------------------------------------


class Player(Client):
    """One player of the solo game, playing its planned games one after another."""

    def __init__(self, url: str, plan: list[list[dict]], seconds: float):
        super().__init__(url)
        self.plan, self.seconds = plan, seconds
        self.rounds: list[dict] = []  # what each round came to

    def run(self) -> None:
        if not self.connect():
            return
        try:
            for game in self.plan:
                self._play(game)
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.sio.disconnect()

    def _play(self, game: list[dict]) -> None:
        ack = self.sio.call("new_game", {"rounds": len(game), "seconds": self.seconds,
                                         "words": [r["prompt"] for r in game]}, timeout=15)
        if not ack or not ack.get("ok"):
            raise ReplayError(f"new_game refused: {ack}")
        game_id = ack["game_id"]
        for index, plan in enumerate(game):
            started = self._expect("round", timeout=30)
            if started["index"] != index or started["word"] != plan["prompt"]:
                raise ReplayError(f"round {started['index']} ({started['word']}) came instead of "
                                  f"round {index} ({plan['prompt']})")
            self.draw(plan["drawing"], started, self.seconds, {"game_id": game_id, "round": index})
            over = self._expect("round_over", timeout=self.seconds + 30)
            if over["index"] != index:
                raise ReplayError(f"round_over for round {over['index']} during round {index}")
            self.rounds.append({**{k: plan[k] for k in ("prompt", "word", "swapped")},
                                "recognized": over["recognized"], "seconds": over["seconds"]})
        final = self._expect("game_over", timeout=30)
        if len(final["results"]) != len(game):
            raise ReplayError(f"game_over holds {len(final['results'])} results for {len(game)} rounds")


# --- the report ------------------------------------------------------------------


def report(players: list[Player], planned_rounds: int, wall: float) -> dict[str, Any]:
    rounds = [r for p in players for r in p.rounds]
    swapped = [r for r in rounds if r["swapped"]]
    figures = round_figures(rounds, planned_rounds)
    return {
        "players": len(players),
        **{k: figures.pop(k) for k in ("rounds_planned", "rounds_played", "rounds_dropped", "recognition_rate")},
        "false_recognition_rate": round(sum(r["recognized"] for r in swapped) / len(swapped), 4) if swapped else None,
        "genuine_rounds": len(rounds) - len(swapped),
        "swapped_rounds": len(swapped),
        **figures,
        **client_figures(players, wall),
    }


def replay(url: str, data: Path, players: int = 1, games: int = 1, rounds: int = 6,
           seconds: float = 20, swap: float = 0.5, split: str = "test", per_word: int = 50,
           words: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    if not data.is_dir():
        raise ReplayError(f"no data folder at {data} (Google's raw ndjson, e.g. ../shared/quickdraw/raw)")
    drawings = load_drawings(data, words or fetch_words(url), split, per_word)
    plans = plan_games(drawings, players, games, rounds, swap, seed)
    clients = [Player(url, plan, seconds) for plan in plans]
    start = time.monotonic()
    start_all([c.run for c in clients])
    result = report(clients, players * games * rounds, time.monotonic() - start)
    result["distinct_drawings"] = sum(len(v) for v in drawings.values())
    result["words"] = len(drawings)
    return result


