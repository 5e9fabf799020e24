// Doodle Lab classroom: the phone page (namespace /classroom, docs/classroom.md). Join
// with the room code and a nickname (the player token is kept in localStorage, so a
// refresh comes back as the same player), then draw on the same canvas as the solo game
// (static/sketch.js) with the AI's guesses live, or in Pictionary type guesses.
(() => {
  "use strict";

  const STORE = "doodle-lab:classroom-player";  // localStorage: {code, token}
  const { createRoundPad, rerouter } = window.DoodleSketch;
  // Words arrive as English ids: `name` says them in the page's language (static/i18n.js).
  const { _, ngettext, word: name } = window.DoodleI18n;
  const $ = (id) => document.getElementById(id);
  const phone = $("phone");

  const st = {
    me: null, code: null, token: null, nickname: "",
    round: null, word: null, seq: 0,
    clockStart: 0, deadline: 0, paused: false, score: 0,
  };

  function view(name) {
    phone.dataset.view = name;
    for (const id of ["join-form", "wait", "draw", "guessing"]) $(id).hidden = id !== name;
    if (name === "draw") pad.resize();
  }

  function wait(title, message) {
    $("wait-name").textContent = st.nickname;
    $("wait-title").textContent = title;
    $("wait-message").textContent = message;
    $("wait-score").textContent = st.me ? _("Score: %(score)s", { score: st.score }) : "";
    view("wait");
  }

  const toast = window.DoodleSketch.toaster($("toast"), 4000);

  function forget() {
    try { localStorage.removeItem(STORE); } catch { /* ignore */ }
    st.me = null; st.token = null;
  }

  // --- the canvas --------------------------------------------------------------------------
  // The connection names its room (`?room=`: with several servers nginx sends it to the
  // room's own, docs/serving.md): the QR code link's, or the last room joined here, until
  // another is typed (then the join reconnects naming it).
  const typedCode = (text) => text.replace(/[\s-]+/g, "").toUpperCase();  // as the server reads it
  const lastRoom = () => { try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch { return null; } };
  const socket = io("/classroom", {
    reconnectionDelayMax: 4000, query: { room: typedCode($("join-code").value) || (lastRoom() || {}).code || "" },
  });
  const reroute = rerouter(socket);  // a typed code's join waits for the connection naming its room
  const pad = createRoundPad({
    canvas: $("canvas"), board: $("board"), undo: $("btn-undo"), clear: $("btn-clear"), socket, st,
    mayDraw: () => phone.dataset.view === "draw",
    onInkLimit: () => toast(_("That's a lot of ink! Undo or clear to draw more.")),
  });

  function timer() {
    const now = performance.now();
    const text = !st.round ? "" : now < st.clockStart ? _("Ready… %(n)s", { n: Math.ceil((st.clockStart - now) / 1000) })
      : _("%(seconds)s s", { seconds: Math.max(0, Math.ceil((st.deadline - now) / 1000)) });
    $("draw-timer").textContent = text;
    if (now >= st.deadline && pad.active) pad.endStroke();
    requestAnimationFrame(timer);
  }

  // --- joining -------------------------------------------------------------------------------

  function seated(ack) {
    st.me = ack.player; st.code = socket.io.opts.query.room = ack.code; st.token = ack.token; st.nickname = ack.nickname;
    try { localStorage.setItem(STORE, JSON.stringify({ code: ack.code, token: ack.token })); } catch { /* ignore */ }
    phone.dataset.player = ack.player;
    const room = ack.room;
    st.score = room.me ? room.me.score : 0;
    const r = room.round;
    if (room.phase === "playing" && r && r.state !== "over") {
      onRound(r);
      if (r.players.includes(st.me)) pad.adopt(room.me.drawing);
    } else if (room.phase === "ended") wait(_("Game over"), _("Look at the projector!"));
    else wait(_("You're in!"), _("Look at the projector: the game starts soon."));
  }

  const MESSAGES = {
    no_room: _("No room with that code. Check the code on the projector."),
    kicked: _("The teacher removed you from this room."),
    rate_limited: _("Too many tries. Wait a few minutes and try again."),
  };

  // The nickname's limit, counted as the server counts (NFC, spaces collapsed, characters
  // rather than UTF-16 units): the hint beside the field says it, and says so as soon as a
  // name passes it. Nothing is cut: the person shortens the name they chose.
  const nickname = $("join-nickname"), nicknameHint = $("join-nickname-hint");
  const MAX_NICKNAME = Number(nickname.dataset.max);
  const nicknameHintText = nicknameHint.textContent;
  function nicknameFits() {
    const n = [...nickname.value.normalize("NFC").trim().split(/\s+/).join(" ")].length;
    const over = n > MAX_NICKNAME;
    nicknameHint.textContent = over
      ? _("Nicknames are at most %(max)s characters. This one has %(n)s.", { max: MAX_NICKNAME, n }) : nicknameHintText;
    nicknameHint.classList.toggle("is-over", over);
    nickname.setAttribute("aria-invalid", String(over));
    return !over;
  }
  nickname.addEventListener("input", nicknameFits);

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    $("join-error").textContent = "";
    if (!nicknameFits()) {
      $("join-error").textContent = _("Nicknames are at most %(max)s characters.", { max: MAX_NICKNAME });
      nickname.focus();
      return;
    }
    // With the open dataset toggle's choice (templates/_dataset_toggle.html), as rejoin.
    const payload = { code: $("join-code").value.trim(), nickname: $("join-nickname").value,
                      ...window.DoodleDataset.fields() };
    const join = () => socket.timeout(10000).emit("join", payload, (err, ack) => {
      if (err || !ack) { $("join-error").textContent = _("The server did not answer. Try again."); return; }
      if (!ack.ok) { $("join-error").textContent = MESSAGES[ack.code] || ack.message; return; }
      seated(ack);
    });
    const room = typedCode(payload.code);
    if (room === socket.io.opts.query.room && socket.connected) { join(); return; }
    reroute.go(room, join, () => { $("join-error").textContent = _("The server did not answer. Try again."); });
  });

  function rejoin(saved) {
    const payload = { code: saved.code, token: saved.token, ...window.DoodleDataset.fields() };
    socket.timeout(10000).emit("rejoin", payload, (err, ack) => {
      if (!err && ack && ack.ok) { seated(ack); return; }
      forget();
      view("join-form");
      if (ack && ack.code === "kicked") $("join-error").textContent = MESSAGES.kicked;
      else if (ack && ack.code === "no_room") $("join-error").textContent = _("That game is over. Join a new room.");
    });
  }

  socket.on("connect", () => {
    if (reroute.connected()) return;
    const saved = st.token ? { code: st.code, token: st.token } : lastRoom();
    const wanted = typedCode($("join-code").value);
    if (saved && (!wanted || wanted === saved.code)) rejoin(saved); else view("join-form");
  });
  socket.on("disconnect", (reason) => {
    pad.endStroke(); pad.dropPending();
    if (reason !== "io client disconnect") toast(_("Connection lost, reconnecting…"));  // not a join's reconnect
  });

  // --- rounds --------------------------------------------------------------------------------
  function onRound(r) {
    st.round = r;
    st.paused = false;
    const now = performance.now();
    st.clockStart = now + (r.starts_in || 0) * 1000;
    st.deadline = st.clockStart + (r.remaining || 0) * 1000;
    pad.reset();
    pad.resetSpace();
    pad.redraw();
    $("ai-guess").textContent = "";
    $("guess-result").textContent = "";
    phone.dataset.round = String(r.index);
    if (!r.players.includes(st.me)) {
      wait(_("Next round soon"), _("You joined during a round: you play from the next one."));
      return;
    }
    if (r.drawer && r.drawer !== st.me) {  // someone else draws for us to guess
      $("guess-drawer").textContent = _("%(name)s is drawing (look at the projector)", { name: r.drawer_nickname });
      // The word's letters as blanks, in this page's language ("_____" for "perro").
      const hint = (r.hints && r.hints[window.DoodleI18n.locale]) || r.hint;
      $("guess-hint").textContent = hint;
      $("guess-hint").setAttribute("aria-label", _("%(n)s letters", { n: (hint.match(/_/g) || []).length }));
      view("guessing");
      return;
    }
    if (r.word) st.word = r.word;
    $("draw-word").textContent = name(r.word || st.word || "");
    if (r.mode === "teach") $("ai-guess").textContent = _("The AI doesn't know this word yet: your drawing teaches it.");
    view("draw");
  }

  socket.on("round", onRound);
  socket.on("your_word", (w) => { st.word = w.word; $("draw-word").textContent = name(w.word); });
  socket.on("paused", () => { st.paused = true; pad.endStroke(); toast(_("The teacher paused the game.")); });
  socket.on("resumed", (t) => {
    st.paused = false;
    const now = performance.now();
    st.clockStart = now + t.starts_in * 1000;
    st.deadline = st.clockStart + t.remaining * 1000;
  });

  socket.on("guess", (g) => {
    if (!st.round || g.round !== st.round.index) return;
    const top = g.guesses && g.guesses[0];
    $("ai-guess").textContent = g.recognized ? _("The AI got it!") : top ? _("The AI sees: %(word)s…", { word: name(top.word) }) : "";
  });

  socket.on("guess_result", (g) => {
    $("guess-result").textContent = g.verdict === "correct" ? _("Correct!")
      : g.verdict === "almost" ? _("Almost! “%(text)s” is close.", { text: g.text }) : _("No, it isn't “%(text)s”.", { text: g.text });
  });

  socket.on("round_over", (r) => {
    pad.endStroke();
    if (r.mode === "teach") {
      wait(_("Thanks for drawing %(word)s!", { word: r.word }), _("Look at the projector: the AI is learning from the class's drawings."));
      return;
    }
    const mine = r.results.find((x) => x.player === st.me);
    const me = r.leaderboard.find((x) => x.player === st.me);
    if (me) st.score = me.score;
    const got = mine && mine.points ? _("+%(points)s points!", { points: mine.points })
      : mine && !r.drawer ? _("The AI didn't get it this time.") : "";
    wait(_("It was: %(word)s", { word: name(r.word) }), `${got} ${r.next_in ? _("Next round soon.") : ""}`.trim());
  });

  socket.on("learning", (e) => wait(ngettext("The AI is learning %(word)s from your %(n)s drawing…",
    "The AI is learning %(word)s from your %(n)s drawings…", e.drawings, { word: e.word }), ""));
  socket.on("learned", (e) => wait(_("The AI learned %(word)s!", { word: e.word }),
    _("From the next round, the AI can guess it.")));
  socket.on("teach_failed", (e) => wait(_("The AI could not learn %(word)s", { word: e.word }), e.message));

  socket.on("game_over", (g) => {
    const me = g.leaderboard.find((x) => x.player === st.me);
    if (me) st.score = me.score;
    wait(_("Game over"), me ? _("You placed #%(rank)s. Look at the projector!", { rank: me.rank }) : _("Look at the projector!"));
  });

  socket.on("kicked", () => {
    forget();
    view("join-form");
    $("join-error").textContent = MESSAGES.kicked;
  });
  socket.on("closed", (c) => {
    forget();
    view("join-form");
    $("join-error").textContent = c && c.code === "teacher_away"
      ? _("The room closed: the teacher's screen has been away too long.")
      : _("The teacher closed the room.");
  });
  socket.on("error", (e) => {
    e = e || {};
    if (["round_over", "not_started"].includes(e.code) && ["ink", "undo", "clear"].includes(e.event)) return;
    toast(e.message || _("Something went wrong."));
  });

  $("guess-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("guess-text").value.trim();
    if (!text || !st.round) return;
    socket.timeout(10000).emit("guess", { text, round: st.round.index }, (err, ack) => {
      if (!err && ack && !ack.ok) $("guess-result").textContent = ack.message;
    });
    $("guess-text").value = "";
  });

  window.doodleJoin = Object.freeze({ socket, st, pad });
  view("join-form");
  requestAnimationFrame(timer);
})();
