"""Several servers behind nginx on Redis (game/cluster/), started for real by
`game.cluster.launch.Cluster`: 3 servers of tests/classroom_e2e_server.py (the real app with
a classifier that counts strokes), nginx and Redis on loopback ports. Clients are
python-socketio's, through nginx, each connection on whichever server nginx gives it.

Skipped, in one line naming the packages, without Debian's redis-server and nginx."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
import urllib.parse
import urllib.request

import pytest
import redis
import socketio

from playwright.sync_api import expect

from browser import INK_PIXELS_JS, Finger, desktop_page, phone_page, screenshots_dir
from conftest import skip_missing_package
from game.classroom.rules import ALPHABET
from game.cluster import launch
from game.cluster import postgres as pg
from game.cluster.store import SERVERS, RedisStore
from game.dataset.store import Store
from live_server import ROOT, play_a_round

def e2e_server(port: int) -> list[str]:
    return [sys.executable, str(ROOT / "tests" / "classroom_e2e_server.py"), str(port)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = launch.missing()
    if reason:
        skip_missing_package(reason)
    with launch.Cluster(servers=3, folder=tmp_path_factory.mktemp("cluster"), server_argv=e2e_server) as c:
        yield c


def server_of(cluster, kind: str, key: str) -> launch.Child:
    """The server holding a game or room: its owner in Redis is host:pid:random."""
    owner = redis.Redis.from_url(cluster.redis_url).hget(f"doodle:{kind}:{key}", "owner").decode()
    pid = int(owner.split(":")[1])
    return next(s for s in cluster.servers if s.process.pid == pid)


class Events:
    """A client's events, in order, as they arrive."""

    def __init__(self, sio: socketio.Client):
        self.got: list[tuple[str, dict]] = []
        sio.on("*", lambda name, data=None: self.got.append((name, data)))

    def wait(self, name: str, where=lambda data: True, timeout: float = 10) -> dict:
        """The first `name` event whose payload is `where`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for n, d in list(self.got) if n == name and where(d)]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no such {name!r} within {timeout} s; got {[n for n, _d in self.got]}")


def connect(cluster, namespace: str = "/", **kwargs) -> tuple[socketio.Client, Events]:
    sio = socketio.Client(**kwargs)
    events = Events(sio) if namespace == "/" else None
    sio.connect(cluster.url, transports=["websocket"], namespaces=[namespace], wait_timeout=10)
    return sio, events


STROKE = [[10, 10, 0], [60, 60, 50], [110, 10, 100]]


def ink(game_id: str, round_: int, stroke: int, seq: int) -> dict:
    return {"game_id": game_id, "round": round_, "stroke": stroke, "seq": seq, "points": STROKE}


def test_each_server_deals_its_own_share_of_the_code_alphabet_and_nginx_routes_rooms_by_it(tmp_path):
    firsts = launch.code_firsts(3)
    assert sorted("".join(firsts)) == sorted(ALPHABET)  # every character, each one server's
    config = launch.nginx_config(tmp_path, 8000, [8001, 8002, 8003])
    for i, first in enumerate(firsts):
        assert f'"~*^[{first}]" doodle_{i + 1};' in config
    second = config.split("upstream doodle_2 {")[1].split("}")[0].split(";")
    assert [line.split()[1] for line in second if "server" in line] == ["127.0.0.1:8002", "127.0.0.1:8003", "127.0.0.1:8001"]
    assert ["backup" in line for line in second if "server" in line] == [False, True, True]
    for servers in (0, len(ALPHABET) + 1):
        with pytest.raises(ValueError, match="servers must be 1 to 31"):
            launch.code_firsts(servers)


def test_a_solo_player_whose_server_is_killed_resumes_on_another_within_5_s(cluster):
    sio, events = connect(cluster, reconnection_delay=0.5, reconnection_delay_max=1)
    resumed = []
    try:
        game = sio.call("new_game", {"rounds": 3, "seconds": 30, "words": ["cat", "dog", "sun"]}, timeout=10)
        assert game["ok"], game
        gid = game["game_id"]
        time.sleep(events.wait("round")["starts_in"] + 0.1)
        sio.emit("ink", ink(gid, 0, 0, 1))
        sio.emit("ink", ink(gid, 0, 1, 2))  # two strokes: the classifier sees "cat"
        assert events.wait("round_over")["recognized"]
        time.sleep(events.wait("round", lambda r: r["index"] == 1)["starts_in"] + 0.1)
        sio.emit("ink", ink(gid, 1, 0, 3))  # one stroke of "dog", not recognized
        time.sleep(1.2)  # saved with the next snapshot tick (SNAPSHOT_INTERVAL 0.5 s)

        # The play page resumes on every reconnection; so does this client.
        sio.on("connect", lambda: resumed.append(
            sio.call("resume", {"game_id": gid, "token": game["token"]}, timeout=10)))
        victim = server_of(cluster, "solo", gid)
        killed = time.monotonic()
        os.kill(victim.process.pid, signal.SIGKILL)
        while not resumed and time.monotonic() - killed < 10:
            time.sleep(0.02)
        took = time.monotonic() - killed
        assert resumed, "no resume within 10 s"
        assert took < 5, f"resumed {took:.1f} s after the kill"
        state = resumed[0]
        assert state["ok"], state
        assert [r["recognized"] for r in state["results"]] == [True]
        assert state["round"]["index"] == 1 and len(state["drawing"]) == 1
        assert server_of(cluster, "solo", gid) is not victim

        # The game goes on there to its end.
        sio.emit("skip", {"game_id": gid, "round": 1})
        time.sleep(events.wait("round", lambda r: r["index"] == 2)["starts_in"] + 0.1)
        sio.emit("skip", {"game_id": gid, "round": 2})
        over = events.wait("game_over")
        assert [r["recognized"] for r in over["results"]] == [True, False, False]
    finally:
        sio.disconnect()
        for server in cluster.servers:
            if not server.alive():
                server.start()  # for the next tests


class Screen:
    """A classroom client (the projector or a phone) on `url`, its events in order."""

    def __init__(self, url: str):
        self.url = url
        self.sio = socketio.Client(reconnection_delay=0.5, reconnection_delay_max=1)
        self.events = Events(self.sio)
        self.sio.on("*", lambda name, data=None: self.events.got.append((name, data)), namespace="/classroom")
        self.sio.connect(url, transports=["websocket"], namespaces=["/classroom"], wait_timeout=10)

    def call(self, event: str, data: dict) -> dict:
        answer = self.sio.call(event, data, namespace="/classroom", timeout=10)
        assert answer["ok"], (event, answer)
        return answer

    def create(self, **data) -> dict:
        """`create`; told `elsewhere`, move as the teacher's page does: reconnect naming the
        route nginx sends to the server holding the fewest rooms, and create there."""
        answer = self.sio.call("create", data, namespace="/classroom", timeout=10)
        if answer.get("code") == "elsewhere":
            self.sio.disconnect()
            self.sio.connect(f"{self.url}?room={answer['route']}", transports=["websocket"],
                             namespaces=["/classroom"], wait_timeout=10)
            return self.call("create", {**data, "here": True})
        assert answer["ok"], answer
        return answer

    def emit(self, event: str, data: dict) -> None:
        self.sio.emit(event, data, namespace="/classroom")

    def names(self, *names: str) -> list[tuple[str, dict]]:
        return [(n, d) for n, d in list(self.events.got) if n in names]


def draw(phone: Screen, round_: int, strokes: int) -> None:
    for stroke in range(strokes):
        phone.emit("ink", {"round": round_, "stroke": stroke, "seq": stroke + 1,
                           "points": [[x + 10 * stroke, y, 20 * i] for i, (x, y, _t) in enumerate(STROKE)]})


def play_a_class(cluster, phones: list[Screen], projector: Screen, code: str, token: str) -> dict:
    """Two race rounds ("cat": 2 strokes, "dog": 3, as the classifier sees them), every
    phone drawing; the projector's game_over."""
    projector.call("configure", {"rounds": 2, "seconds": 20, "words": ["cat", "dog"], "mode": "race"})
    projector.call("start", {})
    for index, strokes in ((0, 2), (1, 3)):
        r = projector.events.wait("round", lambda r: r["index"] == index, timeout=15)
        time.sleep(r["starts_in"] + 0.2)
        for phone in phones:
            draw(phone, index, strokes)
        projector.events.wait("round_over", lambda r: r["index"] == index, timeout=15)
    return projector.events.wait("game_over", timeout=15)


def test_a_classroom_plays_across_three_servers(cluster):
    # The projector through nginx; the phones straight to the servers, in turn, so that
    # each server has some whatever nginx would have chosen.
    projector = Screen(cluster.url)
    phones = []
    try:
        room = projector.create(mode="race")
        code = room["code"]
        holder = server_of(cluster, "classroom", code)
        for i in range(9):
            phone = Screen(cluster.servers[i % 3].url)
            phones.append(phone)
            phone.id = phone.call("join", {"code": code, "nickname": f"Kid {i}"})["player"]
        assert sum(1 for i in range(9) if cluster.servers[i % 3] is not holder) == 6  # relayed
        over = play_a_class(cluster, phones, projector, code, room["host_token"])

        # Every phone's ink reached the projector's mosaic; every phone was recognized
        # twice; the scores are one: the same leaderboard on every screen.
        inked = {d["player"] for _n, m in projector.names("mosaic") for d in m["drawings"] if d["strokes"]}
        assert inked == {p.id for p in phones}
        board = {e["player"]: e["score"] for e in over["leaderboard"]}
        assert set(board) == {p.id for p in phones} and all(score > 0 for score in board.values())
        for phone in phones:
            theirs = phone.events.wait("game_over", timeout=10)
            assert {e["player"]: e["score"] for e in theirs["leaderboard"]} == board

        # A room's events arrive once and in order, on every screen whichever its server.
        for screen in [projector, *phones]:
            story = [(n, d.get("index")) for n, d in screen.names("round", "round_over", "game_over")]
            assert story == [("round", 0), ("round_over", 0), ("round", 1), ("round_over", 1), ("game_over", None)], story
    finally:
        for screen in [projector, *phones]:
            screen.sio.disconnect()


def test_the_phone_pages_reach_their_room_s_server_through_nginx(cluster, browser):
    """join.js names the room on its connection (`?room=`) and nginx sends it to the server
    whose characters the code starts with, the room's: phones by the QR code's link, and a
    laptop whose student typed the code, join and draw without one event relayed over
    Redis (each with its own cookie, nginx's hash alone would have spread them)."""
    projector = Screen(cluster.url)  # no room yet: nginx's hash picks its server
    relayed = redis.Redis.from_url(cluster.redis_url).pubsub()
    relayed.psubscribe("doodle:relay:*")
    pages = []
    try:
        code = projector.create(mode="race")["code"]
        holder = server_of(cluster, "classroom", code)
        assert code[0] in holder.env["DOODLE_CLASSROOM_CODE_FIRST"]
        # The laptop's last room, gone, was another server's: its page connects there first.
        elsewhere = next(s.env["DOODLE_CLASSROOM_CODE_FIRST"][0] for s in cluster.servers if s is not holder)
        for i, opened in enumerate(("phone", "phone", "phone", "typed on a laptop")):
            context, page, problems = (desktop_page if "laptop" in opened else phone_page)(browser)
            pages.append((context, page, problems))
            if "typed" in opened:
                context.add_init_script(
                    "localStorage.setItem('doodle-lab:classroom-player', "
                    f"JSON.stringify({{code: '{elsewhere}GONE', token: 'old'}}))")
                page.goto(cluster.url + "/join")
                expect(page.locator("#join-error")).to_have_text("That game is over. Join a new room.")
                page.locator("#join-code").fill(f" {code[:2].lower()}-{code[2:].lower()} ")
            else:
                page.goto(f"{cluster.url}/join/{code}")
            page.locator("#join-nickname").fill(f"Kid {i}")
            page.locator("#btn-join").click()
            expect(page.locator("#wait")).to_be_visible()
            expect(page.locator("#wait-name")).to_have_text(f"Kid {i}")
            expect(page.locator("#toast")).not_to_contain_text("Connection lost")  # a join's reconnect is no loss
            if "typed" in opened:
                page.screenshot(path=str(screenshots_dir() / "cluster-laptop-typed-code.png"))
        projector.call("configure", {"rounds": 1, "seconds": 20, "words": ["cat"], "mode": "race"})
        projector.call("start", {})
        r = projector.events.wait("round", timeout=15)
        time.sleep(r["starts_in"] + 0.2)
        for _context, page, _problems in pages[:3]:
            expect(page.locator("#draw")).to_be_visible()
            box = page.locator("#canvas").bounding_box()
            Finger(page).draw([[(box["x"] + box["width"] * (0.2 + 0.06 * j), box["y"] + box["height"] * 0.5, 20 * j)
                                for j in range(11)]])
            assert page.evaluate(INK_PIXELS_JS, "#canvas") > 100  # the stroke on the phone's screen
        pages[0][1].screenshot(path=str(screenshots_dir() / "cluster-phone-routed.png"))
        inked = lambda: {d["player"] for _n, m in projector.names("mosaic") for d in m["drawings"] if d["strokes"]}
        deadline = time.monotonic() + 10
        while len(inked()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(inked()) == 3  # every phone's ink on the projector's mosaic
        heard = []
        while (message := relayed.get_message(timeout=0.5)) is not None:
            heard.append(message)
        assert heard and heard[0]["type"] == "psubscribe"  # listening all along
        leaked = [m for m in heard if m["type"] == "pmessage"]
        assert leaked == [], f"{len(leaked)} events relayed, e.g. {leaked[:2]}"
        for _context, _page, problems in pages:
            assert not problems, problems
        # A room named oddly (unknown, empty, long, not ASCII) is served all the same: by the
        # server its first character names, or by the cookie.
        for odd in ("", "ZZZZZ", "0OIL1", "x" * 5000, "🙂'\"<>;%00"):
            query = urllib.parse.urlencode({"EIO": 4, "transport": "polling", "room": odd})
            with urllib.request.urlopen(f"{cluster.url}/socket.io/?{query}", timeout=10) as answer:
                assert answer.status == 200 and b'"sid"' in answer.read()
    finally:
        relayed.close()
        projector.sio.disconnect()
        for context, _page, _problems in pages:
            context.close()


def rooms_per_server(cluster) -> dict:
    """What each live server last announced it holds (a Child -> rooms)."""
    live = {str(s.process.pid): s for s in cluster.servers if s.alive()}
    announced = redis.Redis.from_url(cluster.redis_url).hgetall(SERVERS)
    return {live[pid]: int(v.split()[0]) for k, v in announced.items()
            if (pid := k.decode(errors="replace").split(":")[1]) in live}


def test_the_server_holding_the_fewest_rooms_is_named_and_dead_ones_forgotten(cluster):
    store = RedisStore(cluster.redis_url, logging.getLogger("test"))
    announced = redis.Redis.from_url(cluster.redis_url)
    try:
        # Each would come first if counted: a dead server's (no lease), a stuck one's (its
        # lease renewed, its count 10 s old), and one that is no announcement at all.
        announced.hset(SERVERS, "gone:1:abc", f"0 2 {time.time():.3f}")
        for fake, value in (("stuck:2:abc", f"0 2 {time.time() - 10:.3f}"), ("odd:3:abc", b"\xff 2")):
            announced.set(f"doodle:lease:{fake}", 1, px=5000)
            announced.hset(SERVERS, fake, value)
        time.sleep(0.6)
        counts = rooms_per_server(cluster)
        fewest = min(counts.values())
        assert store.emptier(fewest + 1) in {s.env["DOODLE_CLASSROOM_CODE_FIRST"] for s, n in counts.items() if n == fewest}
        assert not announced.hexists(SERVERS, "gone:1:abc")
        assert store.emptier(fewest) is None  # none holds fewer: the room stays where it is asked for
    finally:
        announced.hdel(SERVERS, "stuck:2:abc", "odd:3:abc")
        store.close()


def crowd(cluster) -> tuple[launch.Child, list[Screen], dict]:
    """Two more rooms on the server holding the most: it, their hosts, and every server's count."""
    time.sleep(0.6)  # every server's count as of its last tick
    counts = rooms_per_server(cluster)
    crowded = max(counts, key=counts.get)
    extra = [Screen(crowded.url) for _ in range(2)]
    for screen in extra:
        screen.call("create", {"mode": "race", "here": True})
    time.sleep(0.6)
    counts = rooms_per_server(cluster)
    assert counts[crowded] > min(counts.values()), counts
    return crowded, extra, counts


def test_a_server_holding_more_rooms_sends_the_teacher_s_create_on_to_the_emptiest(cluster):
    crowded, extra, counts = crowd(cluster)
    teacher = Screen(crowded.url)
    emptiest = {s.env["DOODLE_CLASSROOM_CODE_FIRST"] for s, n in counts.items() if n == min(counts.values())}
    try:
        for data in ({"mode": "race"}, {"here": 1}, {"here": "yes"}, {"here": None}):
            answer = teacher.sio.call("create", data, namespace="/classroom", timeout=10)
            assert answer["ok"] is False and answer["code"] == "elsewhere" and answer["route"] in emptiest, answer
        time.sleep(0.6)
        assert rooms_per_server(cluster)[crowded] == counts[crowded]  # refused: no room made
        code = teacher.call("create", {"mode": "race", "here": True})["code"]  # here: where it is asked for
        assert server_of(cluster, "classroom", code) is crowded
    finally:
        for screen in [teacher, *extra]:
            screen.sio.disconnect()


def test_a_new_class_goes_to_the_server_holding_the_fewest_rooms(cluster, browser):
    """The teacher's page reaches the server holding the most rooms (its last room, gone,
    was that server's): its `create` is sent on to the live server holding the fewest, where
    the page reconnects and makes the room, its code on the projector."""
    crowded, extra, counts = crowd(cluster)
    context = None
    try:
        context, page, problems = desktop_page(browser)
        context.add_init_script("localStorage.setItem('doodle-lab:classroom-host', JSON.stringify("
                                f"{{code: '{crowded.env['DOODLE_CLASSROOM_CODE_FIRST'][0]}GONE', token: 'old'}}))")
        page.goto(cluster.url + "/classroom")
        page.locator("#btn-create").click()
        expect(page.locator("#room-code")).to_have_text(re.compile(r"^[A-Z2-9]{5}$"))
        code = page.locator("#room-code").text_content()
        holder = server_of(cluster, "classroom", code)
        assert holder is not crowded and counts[holder] == min(counts.values()), (holder.name, counts)
        assert code[0] in holder.env["DOODLE_CLASSROOM_CODE_FIRST"]
        expect(page.locator("#toast")).not_to_contain_text("Connection lost")  # a move is no loss
        page.screenshot(path=str(screenshots_dir() / "cluster-teacher-moved.png"))
        assert not problems, problems
    finally:
        if context is not None:
            context.close()
        for screen in extra:
            screen.sio.disconnect()


def test_a_classroom_goes_on_when_its_server_is_killed_mid_round(cluster):
    projector = Screen(cluster.url)
    phones, rejoined = [], []
    try:
        room = projector.create(mode="race")
        code, token = room["code"], room["host_token"]
        # As the teacher's page once it has its room, its reconnections name it: nginx sends
        # them to the room's server, and once that one is dead to the others, its backups.
        projector.sio.connection_url = f"{cluster.url}?room={code}"
        holder = server_of(cluster, "classroom", code)
        others = [s for s in cluster.servers if s is not holder]
        for i in range(8):  # 3 on each other server, 2 on the one that dies with the room
            phone = Screen((others[i % 2] if i < 6 else holder).url)
            phones.append(phone)
            phone.id = phone.call("join", {"code": code, "nickname": f"Kid {i}"})["player"]
        survivors, lost = phones[:6], phones[6:]
        projector.call("configure", {"rounds": 2, "seconds": 30, "words": ["cat", "dog"], "mode": "race"})
        projector.call("start", {})
        r = projector.events.wait("round", lambda r: r["index"] == 0, timeout=15)
        time.sleep(r["starts_in"] + 0.2)
        for phone in phones:
            draw(phone, 0, 2)
        first = projector.events.wait("round_over", lambda r: r["index"] == 0, timeout=15)
        assert all(e["score"] > 0 for e in first["leaderboard"])
        r = projector.events.wait("round", lambda r: r["index"] == 1, timeout=15)
        time.sleep(r["starts_in"] + 0.2)

        # The teacher's page takes its screen back on every reconnection (host_rejoin);
        # a server that cannot reach the room yet answers server_error, and it tries again.
        def host_rejoin():
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                answer = projector.sio.call("host_rejoin", {"code": code, "host_token": token},
                                            namespace="/classroom", timeout=10)
                if answer["ok"]:
                    rejoined.append(answer)
                    return
                time.sleep(0.5)
        projector.sio.on("connect", lambda: projector.sio.start_background_task(host_rejoin), namespace="/classroom")
        os.kill(holder.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        while not rejoined and time.monotonic() - killed < 15:
            time.sleep(0.05)
        assert rejoined, "the projector could not take its room back within 15 s"
        state = rejoined[0]["room"]
        assert state["round"]["index"] == 1 and state["phase"] == "playing", state
        assert server_of(cluster, "classroom", code) in others

        # The phones of the dead server are away once its lease has expired (they would come
        # back through nginx, these went straight to it); the others never left, and the round
        # goes on to the game's end as soon as they are recognized.
        deadline = time.monotonic() + 10
        while True:
            players = projector.call("state", {})["room"]["players"]
            away = {p["id"] for p in players if not p["connected"]}
            if away == {p.id for p in lost} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert away == {p.id for p in lost}, players
        for phone in survivors:
            draw(phone, 1, 3)
        over = projector.events.wait("game_over", timeout=20)
        before = {e["player"]: e["score"] for e in first["leaderboard"]}
        after = {e["player"]: e["score"] for e in over["leaderboard"]}
        assert set(after) == set(before), (before, after)
        assert all(after[p.id] > before[p.id] for p in survivors) and all(after[p.id] == before[p.id] for p in lost)
    finally:
        for screen in [projector, *phones]:
            screen.sio.disconnect()
        for server in cluster.servers:
            if not server.alive():
                server.start()


def test_redis_restarted_under_load(cluster):
    """Redis restarts (its data lost: it keeps none) while solo players and a class play:
    the solo games never notice (a game lives on its player's server, and emits to it
    without the queue); the class's relayed events are refused until Redis is back and its
    server has saved the room again; every game then plays to its end, its snapshot saved
    again and its room on the server that held it."""
    solos = []
    projector = Screen(cluster.url)
    phones = []
    try:
        for _i in range(3):
            sio, events = connect(cluster)
            game = sio.call("new_game", {"rounds": 2, "seconds": 30, "words": ["cat", "dog"]}, timeout=10)
            assert game["ok"], game
            solos.append((sio, events, game["game_id"]))
        room = projector.create(mode="race")
        code = room["code"]
        holder = server_of(cluster, "classroom", code)
        others = [s for s in cluster.servers if s is not holder]
        for i in range(4):
            phone = Screen(others[i % 2].url)
            phones.append(phone)
            phone.id = phone.call("join", {"code": code, "nickname": f"Kid {i}"})["player"]
        projector.call("configure", {"rounds": 2, "seconds": 30, "words": ["cat", "dog"], "mode": "race"})
        projector.call("start", {})

        for sio, events, gid in solos:
            time.sleep(max(0.0, events.wait("round")["starts_in"]) + 0.2)
        cluster.redis.stop()
        for sio, events, gid in solos:  # round 0 of each solo game, recognized, Redis down
            sio.emit("ink", ink(gid, 0, 0, 1))
            sio.emit("ink", ink(gid, 0, 1, 2))
        for sio, events, gid in solos:
            assert events.wait("round_over")["recognized"]
        cluster.redis.start()

        # The class: its phones draw once the room's server answers them again.
        r = projector.events.wait("round", lambda r: r["index"] == 0, timeout=15)
        deadline = time.monotonic() + 20
        while True:
            answer = phones[0].sio.call("state", {}, namespace="/classroom", timeout=10)
            if answer["ok"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer["ok"], answer
        # The relays subscribe again within half a second of Redis's return, Socket.IO's
        # listeners 1 s after losing it (python-socketio's back-off; Redis was away for less):
        # what the room's server sends the other servers' phones before that is lost.
        time.sleep(2)
        for index, strokes in ((0, 2), (1, 3)):
            r = projector.events.wait("round", lambda r: r["index"] == index, timeout=20)
            time.sleep(max(0.0, r["starts_in"]) + 0.2)
            for phone in phones:
                draw(phone, index, strokes)
            over = projector.events.wait("round_over", lambda r: r["index"] == index, timeout=20)
            assert len(over["results"]) == 4 and all(x["recognized"] for x in over["results"]), over
        projector.events.wait("game_over", timeout=15)

        for sio, events, gid in solos:
            time.sleep(max(0.0, events.wait("round", lambda r: r["index"] == 1)["starts_in"]) + 0.2)
            sio.emit("skip", {"game_id": gid, "round": 1})
        for sio, events, gid in solos:
            assert [r["recognized"] for r in events.wait("game_over")["results"]] == [True, False]
            assert [n for n, _d in events.got if n in ("round", "round_over")] == ["round", "round_over"] * 2
        store = redis.Redis.from_url(cluster.redis_url)
        assert all(store.exists(f"doodle:solo:{gid}") for _sio, _events, gid in solos)
        assert server_of(cluster, "classroom", code) is holder
    finally:
        for sio, _events, _gid in solos:
            sio.disconnect()
        for screen in [projector, *phones]:
            screen.sio.disconnect()
        if not cluster.redis.alive():
            cluster.redis.start()


def test_the_cluster_runs_its_own_postgresql_for_the_contributions(tmp_path):
    """`python -m game cluster --postgres`: the servers store the games' contributed
    drawings in a throwaway PostgreSQL (game/cluster/postgres.py)."""
    reason = launch.missing() or pg.unavailable()
    if reason:
        skip_missing_package(reason)
    with launch.Cluster(servers=1, folder=tmp_path, postgres=True) as c:
        assert c.servers[0].env["DATABASE_URL"].startswith("postgresql://")
        assert len(play_a_round(c.url, contributor="cluster-test")) == 1
        store = Store(c.servers[0].env["DATABASE_URL"])
        try:
            deadline = time.monotonic() + 10
            while store.count("bicycle") == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.count("bicycle") == 1
        finally:
            store.close()


def test_the_play_page_resumes_on_another_server_when_its_server_is_killed(cluster, browser):
    """The real play page in Debian's chromium, through nginx (its cookie keeps a browser's
    Socket.IO polling and WebSocket on one server): its server SIGKILLed mid-round, the page
    reconnects on its own and resumes the same game on another server within 5 s."""
    context, page, _problems = phone_page(browser)  # a dying server's requests fail, by design
    try:
        page.goto(cluster.url + "/play")
        saved = page.wait_for_function("() => sessionStorage.getItem('doodle-lab:game')", timeout=20_000)
        game = json.loads(saved.json_value())
        victim = server_of(cluster, "solo", game["game_id"])
        assert any(c["name"] == "doodle_server" for c in context.cookies())
        page.wait_for_timeout(2500)  # into the round's clock
        killed = time.monotonic()
        os.kill(victim.process.pid, signal.SIGKILL)
        while server_of(cluster, "solo", game["game_id"]) is victim and time.monotonic() - killed < 10:
            time.sleep(0.1)
        took = time.monotonic() - killed
        assert server_of(cluster, "solo", game["game_id"]) is not victim, "the page did not resume in 10 s"
        assert took < 5, f"resumed {took:.1f} s after the kill"
        assert json.loads(page.evaluate("() => sessionStorage.getItem('doodle-lab:game')")) == game
    finally:
        context.close()
        for server in cluster.servers:
            if not server.alive():
                server.start()
