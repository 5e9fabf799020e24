"""Teaching the AI a word in a classroom, over Socket.IO (game/classroom/transport.py, the
rules' teach mode, game/model/teach.py): the shipped model as if it had never learned
"stairs" (tests/fakes.py: WithoutWord), taught from real drawings of stairs sent as phones'
ink, then recognizing a new one; the taught word after a restart; every refusal."""
from __future__ import annotations

import json

import numpy as np
import pytest

from game.app import close_app, create_app
from game.dataset.contribute import Contributions
from game.dataset.store import export
from game.classroom.modes import Teach
from game.classroom.transport import NS
from game.extensions import socketio
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier
from game.model.teach import Reference, model_digest, model_id, reference_path
from game.protocol import MAX_POINTS_PER_MESSAGE, MIN_TEACH_DRAWINGS
from fakes import WithoutWord, raw_drawings_of, reference_without
from sockets import last, quiet

WORD = "stairs"
STARTS_IN = 1.0


@pytest.fixture(scope="module")
def classifier():
    return WithoutWord(DoodleClassifier.load(), WORD)


@pytest.fixture
def drawings():
    return raw_drawings_of(WORD)


@pytest.fixture
def make(tmp_path, clock, classifier):
    """Apps of the model without WORD; every app made by one test shares the taught words'
    file (a restart is a second app)."""
    apps = []
    reference = reference_without(reference_path(DEFAULT_MODEL), WORD, tmp_path / "reference.npz")

    def make(**config):
        app = create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": classifier,
                          "REFERENCE_PATH": str(reference), "DECK": ["cat", "dog", "house"],
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'contributions.sqlite3'}",
                          "CLASSROOM_TAUGHT_PATH": str(tmp_path / "taught_words.json"),
                          "GAME_CLOCK": clock, "TICK_INTERVAL": 0.005, "BATCH_WAIT": 0.002,
                          "CLASSROOM_ROOM": {"starts_in": STARTS_IN, "break_seconds": 2.0}, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


def connect(app):
    return socketio.test_client(app, namespace=NS, flask_test_client=app.test_client())


def call(client, event: str, data: dict | None = None) -> dict:
    return client.emit(event, data or {}, namespace=NS, callback=True)


def open_room(app, **create):
    host = connect(app)
    ack = call(host, "create", {"mode": "race", **create})
    assert ack["ok"], ack
    return host, ack


def phones(app, code: str, n: int, name: str = "Kid", **join) -> list:
    out = []
    for i in range(n):
        client = connect(app)
        ack = call(client, "join", {"code": code, "nickname": f"{name} {i}", **join})
        assert ack["ok"], ack
        out.append(client)
    return out


def draw(client, round_: int, drawing: list) -> None:
    """A raw drawing as a phone sends it: each stroke's [x, y, t] points, in messages."""
    seq = 0
    for stroke, (xs, ys, ts) in enumerate(drawing):
        points = [[x, y, t] for x, y, t in zip(xs, ys, ts)]
        for i in range(0, len(points), MAX_POINTS_PER_MESSAGE):
            seq += 1
            client.emit("ink", {"round": round_, "stroke": stroke, "points": points[i:i + MAX_POINTS_PER_MESSAGE],
                                "seq": seq}, namespace=NS)


def teach(host, kids, clock, word: str, drawings: list) -> dict:
    """A teach round of `word`, each kid drawing one of `drawings` (or nothing, past its end);
    the event that ends the lesson: `learned` or `teach_failed`."""
    ack = call(host, "teach", {"word": word})
    assert ack["ok"], ack
    r = last(host, "round")
    assert (r["mode"], r["word"], r["seconds"]) == ("teach", word, Teach.SECONDS)
    clock.advance(STARTS_IN)
    for kid, drawing in zip(kids, drawings):
        draw(kid, r["index"], drawing)
    clock.advance(Teach.SECONDS)
    over = last(host, "round_over")
    assert over["mode"] == "teach" and over["drawings"] == min(len(kids), len(drawings))
    return next(payload for name, payload in _until_one_of(host, ("learned", "teach_failed")))


def _until_one_of(client, names, timeout: float = 30.0):
    for _ in range(int(timeout / 0.05)):
        for name, payload in quiet(client):
            if name in names:
                yield name, payload
                return
    raise AssertionError(f"none of {names} within {timeout} s")


def test_a_class_teaches_a_word_and_the_ai_then_recognizes_it(make, clock, drawings):
    app = make()
    host, ack = open_room(app)
    kids = phones(app, ack["code"], 6)
    learned = teach(host, kids, clock, WORD, drawings[:6])
    assert learned == {"word": WORD, "drawings": 6}
    for kid in kids:
        names = [name for name, _ in quiet(kid)]
        assert "learning" in names or "learned" in names
    state = call(host, "state")["room"]
    assert state["taught"] == [WORD] and state["phase"] == "lobby" and state["settings"]["mode"] == "race"
    # From the next round the AI's guesses name it: a new drawing of stairs, in a race.
    ack = call(host, "configure", {"rounds": 1, "words": ["Stairs"]})
    assert ack["ok"], ack
    assert call(host, "start")["ok"]
    r = last(host, "round")
    assert r["word"] == WORD and r["mode"] == "race"
    clock.advance(STARTS_IN)
    draw(kids[0], r["index"], drawings[10])
    guess = last(kids[0], "guess", timeout=10)
    assert guess["guesses"][0]["word"] == WORD, guess
    assert guess["recognized"], guess


def test_taught_words_survive_a_restart_and_can_be_exported(make, clock, drawings):
    app = make()
    host, ack = open_room(app)
    key = ack["class_token"]
    kids = phones(app, ack["code"], 4)
    assert teach(host, kids, clock, WORD, drawings[:4])["word"] == WORD
    close_app(app)

    again = make()  # the server restarted: rooms are gone, the class's words are not
    host, ack = open_room(again, class_token=key)
    assert ack["class_token"] == key and ack["room"]["taught"] == [WORD]
    exported = call(host, "export_taught")
    assert exported["ok"] and exported["model"] == model_id(DEFAULT_MODEL)
    (word,) = exported["words"]
    features = len(Reference.load(reference_path(DEFAULT_MODEL)).mean)
    assert word["word"] == WORD and word["drawings"] == 4 and len(word["prototype"]) == features
    assert call(host, "configure", {"rounds": 1, "words": [WORD]})["ok"]
    # Another class's page (or a new one) starts with none.
    other, ack = open_room(again)
    assert ack["room"]["taught"] == [] and ack["class_token"] != key
    assert not call(other, "configure", {"rounds": 1, "words": [WORD]})["ok"]


def test_a_model_retrained_under_the_same_name_does_not_read_the_old_ones_taught_words(make, clock, drawings,
                                                                                     tmp_path):
    model = tmp_path / "doodle.onnx"  # only named here: the classifier is the fixture's

    def export(content: bytes) -> None:  # the model file, and its reference bank naming it
        model.write_bytes(content)
        with np.load(tmp_path / "reference.npz") as f:
            bank = dict(f)
        np.savez(tmp_path / "reference.npz", **{**bank, "model": np.str_(model_digest(model))})

    export(b"the model the class taught")
    app = make(MODEL_PATH=str(model))
    host, ack = open_room(app)
    key = ack["class_token"]
    assert teach(host, phones(app, ack["code"], 4), clock, WORD, drawings[:4])["word"] == WORD
    close_app(app)
    host, ack = open_room(make(MODEL_PATH=str(model)), class_token=key)
    assert ack["room"]["taught"] == [WORD] and ack["forgotten"] == []
    export(b"a model trained again, its embedding another")
    # A word the new model knows by one of its names ("gato": cat) is not one to teach again.
    store = tmp_path / "taught_words.json"
    classes = json.loads(store.read_text())
    (entry,) = classes.values()
    entry["words"].append({**entry["words"][0], "word": "Gato"})
    store.write_text(json.dumps(classes))
    app = make(MODEL_PATH=str(model))
    host, ack = open_room(app, class_token=key)
    # The teacher hears which words to teach again, until each is taught to the new model.
    assert ack["class_token"] == key and ack["room"]["taught"] == [] and ack["forgotten"] == [WORD]
    assert not call(host, "configure", {"rounds": 1, "words": [WORD]})["ok"]
    assert open_room(app)[1]["forgotten"] == []  # another class
    assert teach(host, phones(app, ack["code"], 4), clock, "axolotl", drawings[:4])["word"] == "axolotl"
    host, ack = open_room(app, class_token=key)
    assert ack["room"]["taught"] == ["axolotl"] and ack["forgotten"] == [WORD]  # another word taught: still
    assert teach(host, phones(app, ack["code"], 4), clock, WORD.upper(), drawings[:4])["word"] == WORD.upper()
    host, ack = open_room(app, class_token=key)
    assert ack["room"]["taught"] == ["axolotl", WORD.upper()] and ack["forgotten"] == []


def test_the_consenting_phones_drawings_of_a_taught_word_go_to_the_open_dataset(make, clock, drawings, tmp_path):
    app = make()
    host, ack = open_room(app)
    consenting = phones(app, ack["code"], 3, contribute=True, contributor="phone-of-a-kid")
    kids = consenting + phones(app, ack["code"], 1, name="Shy")
    assert teach(host, kids, clock, "volcano", drawings[:4]) == {"word": "volcano", "drawings": 4}
    # And a round of it since, which the AI recognizes.
    assert call(host, "configure", {"rounds": 1, "seconds": 5, "words": ["volcano"]})["ok"]
    assert call(host, "start")["ok"]
    r = last(host, "round")
    clock.advance(STARTS_IN)
    draw(kids[0], r["index"], drawings[10])
    assert last(kids[0], "guess", timeout=10)["recognized"]
    clock.advance(5)
    last(host, "round_over")
    service = Contributions.of(app)
    assert service.games.flush(5.0)
    # The teach round's three consenting drawings and the race's one; the shy phone's never.
    assert service.store.counts(status=None) == {"volcano": 4}
    kept = service.store.newest("volcano", 10)
    assert {r["contributor"] for r in kept} == {"phone-of-a-kid"}
    assert [r["recognized"] for r in kept] == [True, False, False, False]  # newest first: the race's
    assert sorted(r["drawing"] for r in kept[1:]) == sorted(d for d in drawings[:3])

    # The data browser lists it as a class's word; its page and the export have its drawings.
    web = app.test_client()
    index = web.get("/data").get_data(as_text=True)
    assert "/data/volcano" in index and "taught to the AI by a class" in index
    listing = web.get("/api/data/volcano").get_json()
    assert listing["total"] == 4 and {d["word"] for d in listing["drawings"]} == {"volcano"}
    assert web.get("/data/volcano").status_code == 200
    assert web.get("/data/quokka").status_code == 404
    assert export(service.store, tmp_path / "export") == {"volcano": 4}
    lines = (tmp_path / "export" / "volcano.ndjson").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["word"] == "volcano" for line in lines)


def test_too_few_drawings_say_how_many_more(make, clock, drawings):
    app = make()
    host, ack = open_room(app)
    kids = phones(app, ack["code"], 3)  # the third phone draws nothing
    failed = teach(host, kids, clock, WORD, drawings[:MIN_TEACH_DRAWINGS - 1])
    assert failed["code"] == "too_few_drawings" and failed["needed"] == 1 and failed["drawings"] == 2
    assert "1 more drawing" in failed["message"]
    assert call(host, "state")["room"]["taught"] == []


def test_bad_words_are_refused_each_with_its_reason_and_a_flood_is_rate_limited(make, clock):
    app = make()
    host, ack = open_room(app)
    kid = phones(app, ack["code"], 1)[0]
    known = call(host, "teach", {"word": "  CAT "})
    assert (known["code"], known["word"]) == ("known_word", "cat") and "already knows" in known["message"]
    spanish = call(host, "teach", {"word": "gato"})  # a known word in another language is known too
    assert (spanish["code"], spanish["word"]) == ("known_word", "cat")
    assert call(host, "teach", {"word": "   "})["code"] == "bad_word"
    # The room allows 3 lessons a minute, refused ones included.
    flood = call(host, "teach", {"word": "axolotl"})
    assert flood["code"] == "rate_limited" and "wait a minute" in flood["message"]
    clock.advance(60)
    rude = call(host, "teach", {"word": "sh1t"})
    assert rude["code"] == "bad_word" and "not allowed" in rude["message"]
    assert call(host, "teach", {"word": "x" * 31})["code"] == "bad_word"
    assert call(host, "teach", {"word": "<b>"})["code"] == "bad_word"
    clock.advance(60)
    slash = call(host, "teach", {"word": "AC/DC"})  # the open dataset's file of its drawings is named by it
    assert slash["code"] == "bad_word" and "/" in slash["message"]
    assert call(host, "teach", {"word": "back\\slash"})["code"] == "bad_word"
    clock.advance(60)
    assert call(kid, "teach", {"word": "axolotl"})["code"] == "not_host"
    assert call(host, "teach", {"word": 7})["code"] == "bad_word"
    assert call(host, "teach", {"word": "axolotl"})["ok"]  # and in the lesson, no second one
    assert call(host, "teach", {"word": "quokka"})["code"] == "wrong_phase"
    assert call(kid, "export_taught")["code"] == "not_host"


def test_a_model_without_a_reference_bank_cannot_be_taught(make_app):
    host, _ = open_room(make_app())  # a fake classifier's
    assert call(host, "teach", {"word": "axolotl"})["code"] == "cannot_teach"


def test_a_reference_bank_of_another_model_is_refused_at_start(make, tmp_path, caplog):
    """A bank whose embeddings are not the model's width (left from the model before): the
    server says so once at start and its rooms hear they cannot be taught, not a lesson failing."""
    bank = tmp_path / "other.reference.npz"
    with np.load(reference_path(DEFAULT_MODEL)) as f:
        np.savez(bank, **{k: (f[k][..., :256] if k in ("embeddings", "mean") else f[k]) for k in f.files})
    with caplog.at_level("WARNING"):
        app = make(REFERENCE_PATH=str(bank))
    assert "is another model's" in caplog.text and "python -m training export" in caplog.text
    host, _ = open_room(app)
    assert call(host, "teach", {"word": "axolotl"})["code"] == "cannot_teach"


def test_a_reference_bank_of_the_same_width_written_by_another_model_is_refused(make, tmp_path, caplog):
    """Another model of the same embedding width (retrained, its bank not copied with it): the
    bank names the model file it was written by, and the server compares it with its own."""
    with np.load(reference_path(DEFAULT_MODEL)) as f:
        assert str(f["model"]) == model_digest(DEFAULT_MODEL)  # the shipped bank is the shipped model's
        files = {k: f[k] for k in f.files}
    same, other = tmp_path / "same.reference.npz", tmp_path / "other.reference.npz"
    np.savez(same, **files)
    np.savez(other, **{**files, "model": np.str_("sha256:0123456789abcdef")})
    with caplog.at_level("WARNING"):
        taught = open_room(make(REFERENCE_PATH=str(same)))[0]
    assert "another model's" not in caplog.text
    assert call(taught, "teach", {"word": "axolotl"})["ok"]
    with caplog.at_level("WARNING"):
        app = make(REFERENCE_PATH=str(other))
    assert "written by the model file of digest sha256:0123456789abcdef" in caplog.text
    assert call(open_room(app)[0], "teach", {"word": "axolotl"})["code"] == "cannot_teach"
