// Doodle Lab classroom: the teacher's page and projector view (namespace /classroom,
// docs/classroom.md). Create a room (or come back to it with the host token kept in
// localStorage), show its code, QR and join URL, set up and run the game, and show the
// live mosaic of the class's drawings, the countdown, the leaderboard, the podium and
// the gallery of what the AI saw.
(() => {
  "use strict";

  const STORE = "doodle-lab:classroom-host";  // localStorage: {code, host_token}
  // The class's key: its taught words come back with each room this page creates.
  const CLASS = "doodle-lab:classroom-class";
  const { createRoundPad, drawMini, hasInk, rerouter } = window.DoodleSketch;
  // Words arrive as English ids: `name` says them in the page's language (static/i18n.js).
  const { _, ngettext, word: name, number } = window.DoodleI18n;
  const $ = (id) => document.getElementById(id);
  const root = $("classroom");

  const st = {
    code: null, token: null, room: null, round: null,
    deadline: 0, paused: false, left: 0,   // the countdown (performance.now() ms)
    clockStart: 0, seq: 0,                 // the teacher's own drawing (Pictionary)
    tiles: new Map(),                      // player id -> {li, canvas, label, guess, strokes}
    nicknames: new Map(),
    shownWords: null,                      // the words put in the form from the room: {text, ids}
    forgotten: [],                         // the class's words the model before this one learned
  };

  function view(name) {
    root.dataset.view = name;
    for (const id of ["create", "lobby", "stage", "results"]) $(id).hidden = id !== name;
    $("controls").hidden = name === "create" || name === "connecting";
    renderControls();
  }

  const toast = window.DoodleSketch.toaster($("toast"), 5000);

  const pct = (p) => _("%(percent)s%%", { percent: number(Math.round(p * 100)) });
  const guessText = (g) => (!g ? "…" : g.word ? `${name(g.word)} (${pct(g.p)})` : _("the word! (%(percent)s)", { percent: pct(g.p) }));
  const secondsText = (s) => _("%(seconds)s s", { seconds: number(s, 1) });

  function item(list, text, cls = "") {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    list.append(li);
    return li;
  }

  // --- the connection -------------------------------------------------------------------
  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch { return null; }
  }

  // The connection names the room (`?room=`: with several servers nginx sends it to the
  // room's own, docs/serving.md), the last one's until one is created.
  const socket = io("/classroom", { reconnectionDelayMax: 4000, query: { room: (saved() || {}).code || "" } });
  const reroute = rerouter(socket);  // a create waits for the connection to the server `elsewhere` named

  function call(event, payload) {
    return new Promise((resolve) => {
      socket.timeout(10000).emit(event, payload, (err, ack) => {
        resolve(err ? { ok: false, code: "timeout", message: _("The server did not answer.") } : ack);
      });
    });
  }

  function showRoom(ack) {
    st.code = socket.io.opts.query.room = ack.code;  // its reconnections go to its server
    $("room-code").textContent = ack.code;
    $("stage-code").textContent = _("Join: %(code)s", { code: ack.code });
    $("qr").innerHTML = ack.qr_svg;  // made by the server (segno): trusted markup
    $("join-url").textContent = ack.join_url;
    $("join-url").href = ack.join_url;
    onRoom(ack.room);
    const r = ack.room.round;
    if (ack.room.phase === "playing" && r) { onRound(r); view("stage"); } else if (ack.room.phase === "ended") {
      renderPodium(ack.room.leaderboard.filter((e) => e.rank <= 3));
      renderGallery(ack.gallery || []);
      view("results");
    } else view("lobby");
  }

  socket.on("connect", async () => {
    if (reroute.connected()) return;
    const s = saved();
    if (st.token || s) {
      const fresh = !st.token;  // this page's first connection: its form is still the defaults
      const ack = await call("host_rejoin", { code: st.code || s.code, host_token: st.token || s.token });
      if (ack.ok) {
        st.token = st.token || s.token;
        if (fresh && ack.room.settings) showSettings(ack.room.settings);
        showRoom(ack);
        return;
      }
      try { localStorage.removeItem(STORE); } catch { /* ignore */ }
      st.token = null;
      toast(_("Your last room is gone: %(why)s", { why: ack.message }));
    }
    view("create");
  });

  socket.on("disconnect", (reason) => {
    hostPad.endStroke(); hostPad.dropPending();
    if (reason !== "io client disconnect") toast(_("Connection lost, reconnecting…"));  // not a move to another server
  });

  async function create(here) {
    let key = null;
    try { key = localStorage.getItem(CLASS); } catch { /* ignore */ }
    const payload = { mode: $("create-mode").value, ...(key ? { class_token: key } : {}), ...(here ? { here } : {}) };
    $("btn-create").disabled = true;  // one room a click, moves included
    $("create-error").textContent = "";
    const ack = await call("create", payload);
    if (!ack.ok && ack.code === "elsewhere" && !here) {
      // Several servers: another holds fewer rooms. Connect there (nginx routes by the
      // room's first character) and create the room on it.
      const before = socket.io.opts.query.room;
      reroute.go(ack.route, () => create(true), () => {  // as a call that got no answer
        socket.io.opts.query.room = before;  // the next try goes where the last one did
        $("btn-create").disabled = false;
        $("create-error").textContent = _("The server did not answer.");
      });
      return;
    }
    $("btn-create").disabled = false;
    if (!ack.ok) { $("create-error").textContent = ack.message; return; }
    st.token = ack.host_token;
    try {
      localStorage.setItem(STORE, JSON.stringify({ code: ack.code, token: ack.host_token }));
      localStorage.setItem(CLASS, ack.class_token);
    } catch { /* ignore */ }
    $("set-mode").value = $("create-mode").value;
    st.forgotten = ack.forgotten || [];
    showRoom(ack);
    if (st.forgotten.length) toast($("forgotten-line").textContent);
  }
  $("btn-create").addEventListener("click", () => create(false));

  // --- lobby: settings and players -------------------------------------------------------
  function settingsPayload() {
    const custom = document.querySelector('input[name="deck"]:checked').value === "custom";
    const text = $("set-words").value;
    // The words shown from the room's settings, unedited, go back as the ids they came as
    // (two languages' names may fold alike: "mono" and "moño").
    const words = st.shownWords && st.shownWords.text === text ? st.shownWords.ids
      : text.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);
    return {
      rounds: Number($("set-rounds").value), seconds: Number($("set-seconds").value),
      mode: $("set-mode").value, host_draws: $("set-host-draws").checked,
      words: custom && words.length ? words : null,
    };
  }

  // The room's settings back into the form (a reloaded page): the teacher's words by their
  // names in this page's language, as the teacher would type them.
  function showSettings(s) {
    $("set-rounds").value = String(s.rounds);
    $("set-seconds").value = String(s.seconds);
    if (s.mode) $("set-mode").value = s.mode;
    $("set-host-draws").checked = !!s.host_draws;
    document.querySelector(`input[name="deck"][value="${s.words ? "custom" : "default"}"]`).checked = true;
    $("set-words").value = s.words ? s.words.map(name).join(", ") : "";
    st.shownWords = s.words ? { text: $("set-words").value, ids: s.words } : null;
  }

  function onRoom(room) {
    // A new game starts: the last game's events and scores leave the projector.
    if (room.phase === "playing" && st.room && st.room.phase !== "playing") {
      $("feed").textContent = "";
      $("leaderboard").textContent = "";
    }
    st.room = room;
    st.paused = room.paused;
    const list = $("players");
    list.textContent = "";
    for (const p of room.players) {
      st.nicknames.set(p.id, p.nickname);
      const li = item(list, "", p.connected ? "" : "is-away");
      const who = document.createElement("span");
      who.className = "cr-player-name";
      who.textContent = p.connected ? p.nickname : _("%(name)s (away)", { name: p.nickname });
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn cr-remove";
      remove.textContent = _("Remove");
      remove.setAttribute("aria-label", _("Remove %(name)s", { name: p.nickname }));
      remove.addEventListener("click", async () => {
        const ack = await call("kick", { player: p.id });
        if (!ack.ok) toast(ack.message);
      });
      li.append(who, " ", remove);
    }
    $("player-count").textContent = `(${number(room.players.length)})`;
    $("taught-line").hidden = !room.taught.length;
    $("taught").textContent = room.taught.join(", ");
    const same = (a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }) === 0;  // case, accents
    const forgotten = st.forgotten.filter((w) => !room.taught.some((t) => same(t, w)));
    $("forgotten-line").hidden = !forgotten.length;
    $("forgotten-line").textContent = forgotten.length ? _(
      "The AI was updated and no longer knows these words your class taught it: %(words)s. Teach them again.",
      { words: forgotten.join(", ") }) : "";
    if (room.leaderboard) renderLeaderboard(room.leaderboard);
    renderControls();
  }

  // --- teaching the AI a word -----------------------------------------------------------------
  // A word the AI knows already goes into the game's words instead.
  function useKnownWord(word) {
    document.querySelector('input[name="deck"][value="custom"]').checked = true;
    const words = $("set-words").value.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);
    if (!words.includes(name(word))) $("set-words").value = [...words, name(word)].join(", ");
  }

  $("teach").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("teach-error").textContent = "";
    const ack = await call("teach", { word: $("teach-word").value });
    if (!ack.ok) {
      $("teach-error").textContent = ack.message;
      if (ack.code === "known_word") useKnownWord(ack.word);
      return;
    }
    $("teach-word").value = "";
  });

  $("btn-export").addEventListener("click", async () => {
    const ack = await call("export_taught", {});
    if (!ack.ok) { toast(ack.message); return; }
    const taught = { model: ack.model, words: ack.words };
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(taught, null, 1)], { type: "application/json" }));
    link.download = "doodle-lab-taught-words.json";
    link.click();
    URL.revokeObjectURL(link.href);
  });

  const learningText = (e) => ngettext("The AI is learning %(word)s from your %(n)s drawing…",
    "The AI is learning %(word)s from your %(n)s drawings…", e.drawings, { word: e.word });
  socket.on("learning", (e) => { $("banner").textContent = learningText(e); });
  socket.on("learned", (e) => {
    $("banner").textContent = _("The AI learned %(word)s! It can guess it from the next round.", { word: e.word });
  });
  socket.on("teach_failed", (e) => { $("banner").textContent = e.message; });

  function renderControls() {
    const phase = st.room ? st.room.phase : "lobby";
    const playing = phase === "playing";
    $("btn-start").hidden = playing;
    $("btn-pause").hidden = !playing || st.paused;
    $("btn-resume").hidden = !playing || !st.paused;
    $("btn-skip").hidden = !playing;
    $("btn-end").hidden = !playing;
    $("btn-lobby").hidden = root.dataset.view === "lobby";
  }

  $("btn-start").addEventListener("click", async () => {
    $("settings-error").textContent = "";
    const conf = await call("configure", settingsPayload());
    if (!conf.ok) {
      $("settings-error").textContent = conf.code === "unknown_words"
        ? _("The AI doesn't know: %(words)s", { words: conf.words.join(", ") }) : conf.message;
      view("lobby");
      return;
    }
    const ack = await call("start", {});
    if (!ack.ok) { $("settings-error").textContent = ack.message; view("lobby"); }
  });
  for (const name of ["pause", "resume", "skip", "end"]) {
    $(`btn-${name}`).addEventListener("click", async () => {
      const ack = await call(name, {});
      if (!ack.ok) toast(ack.message);
    });
  }
  $("btn-lobby").addEventListener("click", () => view("lobby"));

  // --- the projector: rounds, countdown, mosaic ------------------------------------------
  function setClock(t) {
    const ms = ((t.starts_in || 0) + (t.remaining || 0)) * 1000;
    st.left = ms;
    st.deadline = performance.now() + ms;
    st.clockStart = performance.now() + (t.starts_in || 0) * 1000;
  }

  function tick() {
    const left = st.paused ? st.left : Math.max(0, st.deadline - performance.now());
    const r = st.round;
    const startsIn = r ? (left - r.seconds * 1000) / 1000 : 0;
    $("countdown").textContent = !r || r.state === "over" ? "" : startsIn > 0 ? _("Get ready… %(n)s", { n: Math.ceil(startsIn) })
      : _("%(seconds)s s", { seconds: Math.ceil(Math.min(left / 1000, r.seconds)) });
    $("countdown").classList.toggle("warn", startsIn <= 0 && left < 5000);
    requestAnimationFrame(tick);
  }

  function tile(pid) {
    let t = st.tiles.get(pid);
    if (t) return t;
    const li = document.createElement("figure");
    li.className = "cr-tile";
    li.dataset.player = pid;
    const canvas = document.createElement("canvas");
    const label = document.createElement("figcaption");
    const name = document.createElement("strong");
    name.textContent = pid === "host" ? _("Teacher") : st.nicknames.get(pid) || pid;
    const guess = document.createElement("span");
    guess.className = "cr-tile-guess";
    guess.textContent = "…";
    // Recognized in words too, not only by the tile's colour.
    const status = document.createElement("span");
    status.className = "cr-tile-status";
    label.append(name, " ", guess, status);
    li.append(canvas, label);
    $("mosaic").append(li);
    t = { li, canvas, guess, status, strokes: [] };
    st.tiles.set(pid, t);
    return t;
  }

  // --- the teacher's turn to draw (Pictionary, "the teacher takes turns drawing") ----------
  // The projector becomes the drawing board; the AI's guess shows under it, as the class
  // sees it, and the ink goes to the server like a phone's.
  const hostDraws = () => !!st.round && st.round.drawer === "host"
    && st.round.state !== "over";
  const hostPad = createRoundPad({
    canvas: $("host-canvas"), board: $("host-board"), undo: $("host-undo"), clear: $("host-clear"), socket, st,
    mayDraw: hostDraws,
    onInkLimit: () => toast(_("That's a lot of ink! Undo or clear to draw more.")),
  });

  // The projector is the class's screen too: the teacher's word shows only while held.
  const showWord = (on) => { $("host-word").hidden = !on; };
  const wordBtn = $("host-word-btn");
  for (const [type, on] of [["pointerdown", true], ["pointerup", false], ["pointerleave", false], ["blur", false]]) {
    wordBtn.addEventListener(type, () => showWord(on));
  }
  wordBtn.addEventListener("keydown", (e) => { if (e.key === " " || e.key === "Enter") { e.preventDefault(); showWord(true); } });
  wordBtn.addEventListener("keyup", () => showWord(false));
  socket.on("your_word", (w) => { if (st.round && w.round === st.round.index) $("host-word").textContent = name(w.word); });

  function onRound(r) {
    st.round = r;
    setClock(r);
    hostPad.reset();
    showWord(false);
    if (!r.word) $("host-word").textContent = "";
    const drawing = hostDraws();
    $("host-drawing").hidden = !drawing;
    $("mosaic").hidden = drawing;
    $("host-ai").textContent = "";
    if (drawing) hostPad.resetSpace();
    const teaching = r.mode === "teach";
    $("stage-round").textContent = teaching ? _("Teaching the AI")
      : _("Round %(round)s of %(total)s", { round: r.index + 1, total: r.total });
    const hint = (r.hints && r.hints[window.DoodleI18n.locale]) || r.hint;
    $("stage-word").textContent = teaching ? _("Everyone draws: %(word)s", { word: r.word })
      : r.word ? _("Draw: %(word)s", { word: name(r.word) })
        : _("%(name)s draws: %(hint)s", { name: r.drawer_nickname, hint });
    $("banner").textContent = "";
    $("mosaic").textContent = "";
    st.tiles.clear();
    // One drawer for the class to guess (Pictionary), or everyone's own drawing.
    const drawers = r.drawer ? [r.drawer] : r.players;
    for (const pid of drawers) tile(pid);
    root.dataset.round = String(r.index);
    if (root.dataset.view !== "lobby") view("stage");
  }

  socket.on("room", onRoom);
  socket.on("round", (r) => { onRound(r); view("stage"); });
  socket.on("paused", (t) => { st.paused = true; setClock(t); $("banner").textContent = _("Paused"); renderControls(); });
  socket.on("resumed", (t) => { st.paused = false; setClock(t); $("banner").textContent = ""; renderControls(); });

  socket.on("mosaic", (m) => {
    if (!st.round || m.round !== st.round.index) return;
    for (const d of m.drawings) {
      const t = tile(d.player);
      if (d.reset) t.strokes = [];
      for (const [i, xs, ys] of d.strokes) {
        while (t.strokes.length <= i) t.strokes.push([[], []]);
        t.strokes[i][0].push(...xs);
        t.strokes[i][1].push(...ys);
      }
      // A lesson's drawings have no guesses: the AI does not know the word yet.
      t.guess.textContent = st.round.mode === "teach" ? "" : guessText(d.guess);
      markRecognized(t, !!d.recognized);
      drawMini(t.canvas, t.strokes);
      if (d.player === "host" && hostDraws()) {
        // After a refresh of this page mid-turn, the server's copy is the drawing so far.
        if (d.reset && !hostPad.strokes.length && hasInk(t.strokes)) hostPad.adopt(t.strokes);
        $("host-ai").textContent = d.recognized ? _("The AI got it: %(guess)s", { guess: guessText(d.guess) })
          : _("The AI sees: %(guess)s", { guess: guessText(d.guess) });
      }
    }
  });

  function markRecognized(t, yes) {
    t.li.classList.toggle("is-recognized", yes);
    t.status.textContent = yes ? _("Recognized by the AI") : "";
  }

  function feed(text) {
    const li = item($("feed"), text);
    $("feed").prepend(li);
    while ($("feed").children.length > 8) $("feed").lastChild.remove();
  }

  socket.on("recognized", (e) => {
    feed(_("The AI got %(name)s's drawing in %(time)s (+%(points)s)", { name: e.nickname, time: secondsText(e.seconds), points: e.points }));
    const t = st.tiles.get(e.player);
    if (t) markRecognized(t, true);
  });
  socket.on("ai_got_it", (e) => feed(_("The AI got it in %(time)s", { time: secondsText(e.seconds) })));
  socket.on("almost", (e) => feed(_("%(name)s is close!", { name: e.nickname })));
  socket.on("guessed", (e) => feed(_("%(name)s guessed it in %(time)s (+%(points)s)",
    { name: e.nickname, time: secondsText(e.seconds), points: e.points })));

  socket.on("round_over", (r) => {
    hostPad.endStroke();
    if (st.round && r.index === st.round.index) st.round.state = "over";
    if (r.mode === "teach") {
      $("banner").textContent = ngettext("%(n)s drawing of %(word)s.", "%(n)s drawings of %(word)s.", r.drawings, { word: r.word });
      return;
    }
    // A mode whose class races the AI says who got there first.
    const who = "first" in r
      ? (r.first === "class" ? _("The class beat the AI!") : r.first === "ai" ? _("The AI was first!") : _("Nobody got it."))
      : ngettext("%(got)s of %(n)s drawing recognized.", "%(got)s of %(n)s drawings recognized.", r.results.length,
        { got: r.results.filter((x) => x.recognized).length });
    $("banner").textContent = _("It was: %(word)s. %(who)s", { word: name(r.word), who });
    renderLeaderboard(r.leaderboard);
  });

  function renderLeaderboard(board) {
    const list = $("leaderboard");
    list.textContent = "";
    for (const e of board) item(list, `${e.rank}. ${e.nickname} — ${e.score}`);
  }

  // --- the end: podium and gallery ---------------------------------------------------------
  // The podium's places in words, on the medals' colours (style.css): no emoji to rely on.
  const PLACES = [_("1st"), _("2nd"), _("3rd")];

  function renderPodium(podium) {
    const list = $("podium");
    list.textContent = "";
    for (const e of podium) {
      const li = item(list, "", `rank-${e.rank}`);
      const place = document.createElement("span");
      place.className = "cr-place";
      place.textContent = PLACES[e.rank - 1] || number(e.rank);
      li.append(place, " ", `${e.nickname} — ${e.score}`);
    }
  }

  function renderGallery(gallery) {
    const box = $("gallery");
    box.textContent = "";
    const tiles = [];
    for (const g of gallery) {
      const section = document.createElement("section");
      section.className = "cr-gallery-word";
      const h = document.createElement("h3");
      h.className = "word";
      h.textContent = name(g.word);
      section.append(h);
      for (const d of g.drawings) {
        const fig = document.createElement("figure");
        fig.className = `cr-tile ${d.recognized ? "is-recognized" : "is-missed"}`;
        const canvas = document.createElement("canvas");
        const cap = document.createElement("figcaption");
        const top = d.guesses && d.guesses[0];
        const saw = hasInk(d.drawing) && top ? `${name(top.word)} (${pct(top.p)})` : "";
        cap.textContent = !saw ? _("%(name)s: nothing drawn", { name: d.nickname })
          : d.recognized ? _("%(name)s: recognized, the AI saw %(saw)s", { name: d.nickname, saw })
          : _("%(name)s: not recognized, the AI saw %(saw)s", { name: d.nickname, saw });
        fig.append(canvas, cap);
        section.append(fig);
        tiles.push([canvas, d.drawing]);
      }
      box.append(section);
    }
    requestAnimationFrame(() => { for (const [c, d] of tiles) drawMini(c, d); });
  }

  socket.on("game_over", (g) => {
    st.round = null;
    renderLeaderboard(g.leaderboard);
    renderPodium(g.podium);
    if (st.room) st.room.phase = "ended";
    view("results");
  });
  socket.on("gallery", (g) => renderGallery(g.gallery));
  socket.on("closed", (c) => {
    try { localStorage.removeItem(STORE); } catch { /* ignore */ }
    st.token = null;
    toast(_("The room was closed."));
    view("create");
  });
  socket.on("error", (e) => toast((e && e.message) || _("Something went wrong.")));

  window.doodleClassroom = Object.freeze({ socket, st });
  view("connecting");
  requestAnimationFrame(tick);
})();
