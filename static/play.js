/* Doodle Lab: the play page. Speaks docs/protocol.md over Socket.IO (static/vendor/socket.io.min.js).
 *
 * The server owns the clock, the words and the verdict; this page draws, streams ink, shows
 * the countdown it is told, reads the guesses out and replays the doodles at the end.
 * Plain modern JS, no build step.
 */
(() => {
  "use strict";

  // --- constants -------------------------------------------------------------------------
  const FLUSH_MS = 75;                 // ink batching: one message per ~75 ms while drawing
  const WARN_SECONDS = 5;              // the countdown warns in the last 5 seconds
  // Between rounds the server holds the next prompt back for its break (the `round` event's
  // `prompt_in`, docs/protocol.md): the result stays up until then, or until "Next".
  const FINAL_RESULT_MS = 3000;        // the last round's result, before the summary: the same break
  const MAX_FRAGMENTS = 3;             // "I see a … or a … or a …"
  const GUESS_FLOOR = 0.05;            // a guess below this is not worth saying
  const STORE_GAME = "doodle-lab:game";    // sessionStorage: {game_id, token}
  const STORE_MUTED = "doodle-lab:muted";  // localStorage: "1" when muted

  const $ = (id) => document.getElementById(id);
  const el = {
    game: $("game"), board: $("board"), canvas: $("canvas"),
    hudRound: $("hud-round"), hudWord: $("hud-word"), timer: $("timer"), timerValue: $("timer-value"),
    guess: $("guess"),
    undo: $("btn-undo"), clear: $("btn-clear"), skip: $("btn-skip"), mute: $("btn-mute"),
    connectCard: $("connect-card"), connectTitle: $("connect-title"), connectMessage: $("connect-message"),
    connectActions: $("connect-actions"), newGame: $("btn-new-game"),
    promptCard: $("prompt-card"), promptRound: $("prompt-round"), promptWord: $("prompt-word"),
    promptSeconds: $("prompt-seconds"), promptBar: $("prompt-bar"), promptLast: $("prompt-last"),
    resultCard: $("result-card"), resultKicker: $("result-kicker"), resultTitle: $("result-title"),
    resultCanvas: $("result-canvas"), resultDetail: $("result-detail"), resultBar: $("result-bar"), next: $("btn-next"),
    summary: $("summary"), summaryScore: $("summary-score"), summaryList: $("summary-list"),
    again: $("btn-again"), toast: $("toast"), announce: $("announce"),
  };
  const { createPad, drawMini, hasInk, strokeTime, firstTime } = window.DoodleSketch;
  // The words arrive as English ids; `word` names one in the page's language, `phrase` says
  // it in a sentence with its article ("una bicicleta"): data/categories_<locale>.txt.
  const { _, ngettext, word: name, phrase, number, either, speechLang } = window.DoodleI18n;

  // --- state -----------------------------------------------------------------------------
  const state = {
    requested: settingsFromQuery(),  // forwarded to new_game
    gameId: null,
    token: null,
    round: null,          // the current `round` event
    over: new Set(),      // indexes of rounds that are over
    results: [],          // round_over payloads
    phase: "connecting",  // connecting | prompt | drawing | result | over | lost
    inkStart: 0,          // performance.now() when the round's clock started (ink's t = 0)
    timerStart: 0,        // the same for the countdown, nudged by the server's `elapsed`
    seq: 0,
    skipping: false,
    saidWords: [],        // this round's guesses so far, in the order they were said
    recognizedSaid: false,
    roundOverAt: 0,
    shown: false,         // whether the current round has been put on screen (its prompt or its clock)
    finalResults: null,   // game_over's results while the last round's result is up
    timers: [],           // timeouts to drop when the round changes
    warnedInk: false,
  };

  // Drawing space: CSS px of the canvas as it was when the round started. After a resize
  // (a phone turned) the drawing is fitted, centred, into the new canvas and new points
  // are mapped back, so the server always gets one consistent coordinate space.
  const view = { w: 0, h: 0, dpr: 1, baseW: 0, baseH: 0, scale: 1, ox: 0, oy: 0 };

  function settingsFromQuery() {
    const q = new URLSearchParams(location.search);
    const s = {};
    for (const key of ["rounds", "seconds"]) {
      const n = Number.parseInt(q.get(key) || "", 10);
      if (Number.isFinite(n)) s[key] = n;
    }
    const words = (q.get("words") || "").split(",").map((w) => w.trim()).filter(Boolean);
    if (words.length) s.words = words;
    return s;
  }

  // --- small helpers ---------------------------------------------------------------------
  function roundOf(index, total) { return _("Round %(round)s of %(total)s", { round: index + 1, total }); }

  function later(fn, ms) {
    const id = setTimeout(fn, Math.max(0, ms));
    state.timers.push(id);
    return id;
  }

  function dropTimers() {
    state.timers.forEach(clearTimeout);
    state.timers = [];
  }

  function setPhase(phase) {
    state.phase = phase;
    el.game.dataset.phase = phase;
    const drawing = phase === "drawing";
    el.undo.disabled = !drawing || pad.strokes.length === 0;
    el.clear.disabled = !drawing || pad.strokes.length === 0;
    el.skip.disabled = !(drawing || phase === "prompt") || state.skipping;
  }

  function refreshButtons() { setPhase(state.phase); }

  function show(section, visible) { section.hidden = !visible; }

  let toastTimer = 0;
  function toast(message, ms = 4000) {
    el.toast.textContent = message;
    el.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.hidden = true; }, ms);
  }

  // For screen readers: the prompt, the last seconds and each result, said once.
  function announce(text) {
    el.announce.textContent = "";
    setTimeout(() => { el.announce.textContent = text; }, 50);
  }

  function fmtClock(s) {
    s = Math.max(0, Math.ceil(s));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function fmtSeconds(s) { return _("%(seconds)s s", { seconds: number(Number(s), 1) }); }

  // --- speech ----------------------------------------------------------------------------
  const synth = "speechSynthesis" in window ? window.speechSynthesis : null;
  const speech = { muted: false, busy: false, next: null, unlocked: false };
  try { speech.muted = localStorage.getItem(STORE_MUTED) === "1"; } catch { /* private mode */ }

  function renderMute() {
    el.mute.setAttribute("aria-pressed", String(speech.muted));
    el.mute.classList.toggle("is-muted", speech.muted);
    el.mute.title = speech.muted ? _("The AI's voice is off") : _("The AI's voice is on");
    if (!synth) { el.mute.disabled = true; el.mute.title = _("This browser cannot speak"); }
  }

  function unlockSpeech() {
    // iOS speaks only after a first utterance started from a user gesture.
    if (!synth || speech.unlocked) return;
    speech.unlocked = true;
    try { synth.speak(new SpeechSynthesisUtterance("")); } catch { /* ignore */ }
  }

  // One utterance at a time, and at most one waiting (the newest): the voice stays close
  // to the drawing instead of reading out a backlog. `urgent` interrupts ("Oh, I know…").
  function say(text, urgent = false) {
    if (!synth || speech.muted) return;
    if (urgent) hush();
    if (speech.busy) { speech.next = text; return; }
    const u = new SpeechSynthesisUtterance(text.replace(/…/g, ","));
    u.lang = speechLang;
    u.rate = 1.1;
    const done = () => {
      if (u !== speech.current) return;
      speech.busy = false;
      speech.current = null;
      const next = speech.next;
      speech.next = null;
      if (next) say(next);
    };
    u.onend = done;
    u.onerror = done;
    speech.current = u;
    speech.busy = true;
    try { synth.speak(u); } catch { speech.busy = false; speech.current = null; }
  }

  function hush() {
    if (!synth) return;
    speech.next = null;
    speech.busy = false;
    speech.current = null;
    try { synth.cancel(); } catch { /* ignore */ }
  }

  el.mute.addEventListener("click", () => {
    speech.muted = !speech.muted;
    try { localStorage.setItem(STORE_MUTED, speech.muted ? "1" : "0"); } catch { /* ignore */ }
    if (speech.muted) hush();
    renderMute();
  });

  // --- the canvas (static/sketch.js) ----------------------------------------------------
  function canDraw() {
    return state.phase === "drawing" && !state.skipping && socket.connected
      && performance.now() - state.timerStart < state.round.seconds * 1000;
  }

  function inkTime(e) {
    // Event timestamps share performance.now()'s origin; coalesced events keep their own.
    const ts = e.timeStamp > 0 ? e.timeStamp : performance.now();
    return Math.max(0, Math.round(ts - state.inkStart));
  }

  function sendInk(stroke, points) {
    if (!socket.connected || !state.round) return;  // dropped: a resume brings back the server's copy
    state.seq += 1;
    socket.emit("ink", { game_id: state.gameId, round: state.round.index, seq: state.seq, stroke, points });
  }

  const pad = createPad({
    canvas: el.canvas, board: el.board, canDraw, inkTime, send: sendInk,
    onChange: () => refreshButtons(),
    onPointerDown: () => unlockSpeech(),
    onInkLimit: () => {
      if (!state.warnedInk) { state.warnedInk = true; toast(_("That's a lot of ink! Undo or clear to draw more.")); }
    },
  });
  const { endStroke, flush, redraw } = pad;
  Object.defineProperty(state, "strokes", { get: () => pad.strokes });  // for the console and tests

  // No scrolling or pull-to-refresh while playing; the summary still scrolls.
  document.addEventListener("touchmove", (e) => {
    if (!(e.target instanceof Element && e.target.closest(".scrollable"))) e.preventDefault();
  }, { passive: false });

  // --- buttons ---------------------------------------------------------------------------
  function roundRef() { return { game_id: state.gameId, round: state.round.index }; }

  el.undo.addEventListener("click", () => {
    if (state.phase !== "drawing" || !pad.strokes.length) return;
    pad.undo();
    socket.emit("undo", roundRef());
    refreshButtons();
  });

  el.clear.addEventListener("click", () => {
    if (state.phase !== "drawing" || !pad.strokes.length) return;
    pad.clear();
    socket.emit("clear", roundRef());
    refreshButtons();
  });

  el.skip.addEventListener("click", () => {
    if (!state.round || state.skipping || !(state.phase === "drawing" || state.phase === "prompt")) return;
    endStroke();
    flush();
    state.skipping = true;
    socket.emit("skip", roundRef());
    refreshButtons();
  });

  // "Next" on a round's result: the server ends its break and sends the next round again
  // with its prompt starting now; after the last round, the summary.
  el.next.addEventListener("click", () => {
    if (state.phase !== "result") return;
    if (state.finalResults) { showSummary(state.finalResults); return; }
    const r = state.round;
    if (!r || state.over.has(r.index) || state.shown || !socket.connected) return;  // no next round yet
    el.next.disabled = true;
    socket.emit("next", roundRef());
  });

  el.again.addEventListener("click", () => newGame());
  el.newGame.addEventListener("click", () => newGame());

  // --- the countdown ---------------------------------------------------------------------
  let ticking = 0;
  function tick() {
    ticking = 0;
    if (!state.round) return;
    const now = performance.now();
    if ((state.phase === "prompt" || state.phase === "drawing") && !el.game.dataset.offline) {
      const left = state.round.seconds - Math.max(0, now - state.timerStart) / 1000;
      el.timerValue.textContent = fmtClock(left);
      const warn = state.phase === "drawing" && left <= WARN_SECONDS && left > 0;
      if (warn && !state.warned) { state.warned = true; announce(_("%(n)s seconds left.", { n: WARN_SECONDS })); }
      el.timer.classList.toggle("warn", warn);
      el.timer.classList.toggle("done", state.phase === "drawing" && left <= 0);
      if (state.phase === "drawing" && left <= 0 && pad.active) endStroke();
      ticking = requestAnimationFrame(tick);
    }
  }
  function startTicking() { if (!ticking) ticking = requestAnimationFrame(tick); }

  // --- rounds ----------------------------------------------------------------------------
  function beginRound(r, { elapsed = null } = {}) {
    dropTimers();
    const now = performance.now();
    state.round = r;
    state.shown = false;
    state.skipping = false;
    state.saidWords = [];
    state.recognizedSaid = false;
    state.warnedInk = false;
    state.warned = false;
    pad.reset();
    const startsIn = Math.max(0, Number(r.starts_in) || 0);
    // The break first (after a round): the last result stays up, nothing of this round shows.
    const promptIn = Math.min(startsIn, Math.max(0, Number(r.prompt_in) || 0));
    state.inkStart = elapsed != null ? now - elapsed * 1000 : now + startsIn * 1000;
    state.timerStart = state.inkStart;

    show(el.connectCard, false);
    show(el.summary, false);
    pad.resetSpace();
    redraw();

    const startAt = state.inkStart;
    if (startAt - now > 50) {
      const showPrompt = () => {
        present(r);
        show(el.resultCard, false);
        show(el.promptCard, true);
        runBar(el.promptBar, startAt - performance.now());
        setPhase("prompt");
        announce(_("Round %(round)s of %(total)s. Draw: %(word)s, in under %(seconds)s seconds.",
          { round: r.index + 1, total: r.total, word: name(r.word), seconds: number(r.seconds) }));
        say(_("Draw %(thing)s", { thing: phrase(r.word) }));
      };
      const showAt = now + promptIn * 1000;
      if (showAt > now + 20) {
        const last = state.results[r.index - 1];
        if (el.resultCard.hidden && last) showResult(last, { quiet: true });  // a page resumed in the break
        setPhase("result");
        runBar(el.resultBar, showAt - now);
        later(showPrompt, showAt - now);
      } else showPrompt();
      later(startDrawing, startAt - now);
    } else {
      startDrawing();
      announce(_("Draw: %(word)s.", { word: name(r.word) }));
    }
    startTicking();
  }

  // The round on screen: the header, the prompt card, the countdown. Never before its prompt:
  // during the break the header still names the round whose result is up.
  function present(r) {
    if (state.shown) return;
    state.shown = true;
    el.game.dataset.word = r.word;
    el.game.dataset.round = String(r.index);
    el.hudRound.textContent = `${r.index + 1}/${r.total}`;
    el.hudWord.textContent = name(r.word);
    el.guess.textContent = "";
    el.timer.classList.remove("warn", "done");
    el.timerValue.textContent = fmtClock(r.seconds);
    el.promptRound.textContent = roundOf(r.index, r.total);
    el.promptWord.textContent = name(r.word);
    el.promptSeconds.textContent = String(r.seconds);
    const last = state.results[r.index - 1];
    el.promptLast.textContent = last && performance.now() - state.roundOverAt < 5000 ? lastLine(last) : "";
  }

  // A bar that empties over `ms`: the prompt's time, the result's.
  function runBar(bar, ms) {
    bar.style.transition = "none";
    bar.style.transform = "scaleX(1)";
    void bar.offsetWidth;  // restart the animation
    bar.style.transition = `transform ${Math.max(0, ms)}ms linear`;
    bar.style.transform = "scaleX(0)";
  }

  function lastLine(r) {
    const thing = phrase(r.word);
    if (r.recognized) {
      return r.seconds != null ? _("✓ The AI got %(thing)s in %(time)s.", { thing, time: fmtSeconds(r.seconds) })
        : _("✓ The AI got %(thing)s.", { thing });
    }
    return r.skipped ? _("Skipped %(thing)s.", { thing }) : _("✗ The AI didn't get %(thing)s.", { thing });
  }

  function startDrawing() {
    present(state.round);
    show(el.resultCard, false);
    show(el.promptCard, false);
    setPhase("drawing");
    startTicking();
  }

  function onGuess(g) {
    if (!state.round || g.round !== state.round.index || state.over.has(g.round)) return;
    if (typeof g.elapsed === "number" && state.phase === "drawing") {
      // The server's clock decides; ours only lags it (the round event took a while to come).
      const serverStart = performance.now() - g.elapsed * 1000;
      if (serverStart < state.timerStart - 250) state.timerStart = serverStart;
    }
    const guesses = Array.isArray(g.guesses) ? g.guesses : [];
    const top = guesses[0];
    if (g.recognized) {
      if (!state.recognizedSaid) {
        state.recognizedSaid = true;
        const sentence = _("Oh, I know, it's %(thing)s!", { thing: phrase(state.round.word) });
        renderSentence(sentence);
        say(sentence, true);
      }
      return;
    }
    if (top && top.p >= GUESS_FLOOR && !state.saidWords.includes(top.word)) {
      state.saidWords.push(top.word);
      const first = state.saidWords.length === 1;
      renderSentence();
      say(fragment(top.word, first));
    }
  }

  // The AI thinking aloud: "I see a wheel… or a bicycle…".
  function fragment(word, first) {
    return first ? _("I see %(thing)s…", { thing: phrase(word) }) : _("or %(thing)s…", { thing: phrase(word) });
  }

  function renderSentence(ending = "") {
    const words = state.saidWords.slice(-MAX_FRAGMENTS);
    const parts = words.map((w, i) => fragment(w, i === 0));
    if (ending) parts.push(ending);
    el.guess.textContent = parts.join(" ");
  }

  function onRoundOver(r) {
    if (state.over.has(r.index)) return;
    state.over.add(r.index);
    state.results[r.index] = r;
    if (!state.round || r.index !== state.round.index) return;
    endStroke();
    dropTimers();
    state.roundOverAt = performance.now();
    state.skipping = false;
    el.timer.classList.remove("warn");
    showResult(r);
  }

  function aiThought(r, n = 3) {
    // "a cat (42%), a banana or a dog": the top guess with its confidence.
    const words = (r.guesses || []).slice(0, n).map((g, i) => (i === 0 && typeof g.p === "number"
      ? _("%(thing)s (%(percent)s%%)", { thing: phrase(g.word), percent: number(Math.round(g.p * 100)) }) : phrase(g.word)));
    return words.length ? either(words) : "";
  }

  // Not recognized, yet the prompt was the AI's top guess at the end, under the threshold: the
  // round does not count, and the card says the AI was right but unsure, not that it failed.
  const almost = (r) => !r.recognized && hasInk(r.drawing) && !!r.guesses && !!r.guesses[0] && r.guesses[0].word === r.word;

  function showResult(r, { quiet = false } = {}) {
    show(el.promptCard, false);
    const total = state.round ? state.round.total : r.index + 1;
    el.resultKicker.textContent = roundOf(r.index, total);
    if (r.recognized) {
      el.resultTitle.textContent = _("✓ The AI got %(thing)s!", { thing: phrase(r.word) });
      el.resultDetail.textContent = r.seconds != null ? _("Recognized in %(time)s.", { time: fmtSeconds(r.seconds) })
        : _("Recognized.");
    } else {
      const close = almost(r);
      el.resultTitle.textContent = r.skipped ? _("Skipped: %(word)s", { word: name(r.word) })
        : close ? _("Almost: %(thing)s", { thing: phrase(r.word) }) : _("Time's up: %(thing)s", { thing: phrase(r.word) });
      const thought = hasInk(r.drawing) ? aiThought(r) : "";
      el.resultDetail.textContent = close
        ? _("The AI's best guess was right, %(thing)s, but at %(percent)s%% it wasn't sure enough to say it.",
          { thing: phrase(r.word), percent: number(Math.round(r.guesses[0].p * 100)) })
        : !hasInk(r.drawing) ? _("Nothing was drawn.")
        : thought ? _("The AI thought it was %(things)s.", { things: thought }) : _("The AI had no idea.");
      if (!r.skipped && !quiet) say(close ? _("I thought so, but I wasn't sure enough.") : _("Sorry, I couldn't guess it."));
    }
    const last = r.index + 1 >= total;
    el.next.textContent = last ? _("See your doodles") : _("Next");
    el.next.disabled = false;
    el.resultBar.style.transition = "none";
    el.resultBar.style.transform = "scaleX(1)";  // it empties once the break is known
    show(el.resultCard, true);
    if (!quiet) announce(`${el.resultTitle.textContent} ${el.resultDetail.textContent}`);
    drawMini(el.resultCanvas, r.drawing || [], Infinity);
    setPhase("result");
    el.next.focus({ preventScroll: true });
  }

  // --- the summary -----------------------------------------------------------------------
  function lastTime(drawing) {
    let m = 0;
    for (const [xs, , ts] of drawing) if (xs.length) m = Math.max(m, strokeTime(ts, xs.length - 1));
    return m;
  }

  function replay(tile, canvas, drawing) {
    if (tile.dataset.replaying === "1") return;
    const t0 = firstTime(drawing), duration = lastTime(drawing) - t0;
    const start = performance.now();
    tile.dataset.replaying = "1";
    const frame = () => {
      const elapsed = performance.now() - start;
      drawMini(canvas, drawing, elapsed);
      if (elapsed < duration) requestAnimationFrame(frame);
      else { drawMini(canvas, drawing, Infinity); tile.dataset.replaying = "0"; tile.dataset.replayed = "1"; }
    };
    requestAnimationFrame(frame);
  }

  function showSummary(results) {
    dropTimers();
    endStroke();
    show(el.promptCard, false);
    show(el.resultCard, false);
    show(el.connectCard, false);
    setPhase("over");
    el.summaryList.textContent = "";
    const got = results.filter((r) => r && r.recognized).length;
    el.summaryScore.textContent = ngettext("The AI recognized %(got)s of your %(n)s doodle.",
      "The AI recognized %(got)s of your %(n)s doodles.", results.length, { got });
    const tiles = [];
    for (const r of results) {
      if (!r) continue;
      const li = document.createElement("li");
      li.className = "doodle " + (r.recognized ? "is-recognized" : "is-missed");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "doodle-replay";
      button.setAttribute("aria-label", _("Replay your drawing of %(thing)s", { thing: phrase(r.word) }));
      const canvas = document.createElement("canvas");
      canvas.className = "mini";
      canvas.setAttribute("aria-hidden", "true");
      const hint = document.createElement("span");
      hint.className = "replay-hint";
      hint.setAttribute("aria-hidden", "true");
      hint.textContent = _("▶ Replay");
      button.append(canvas, hint);
      const drawing = Array.isArray(r.drawing) ? r.drawing : [];
      const drawn = hasInk(drawing);
      if (!drawn) { button.disabled = true; hint.textContent = _("Nothing drawn"); }
      button.addEventListener("click", () => replay(li, canvas, drawing));

      const word = document.createElement("h3");
      word.className = "word";
      word.textContent = name(r.word);
      const verdict = document.createElement("p");
      verdict.className = "verdict";
      verdict.textContent = r.recognized
        ? (r.seconds != null ? _("✓ Recognized in %(time)s", { time: fmtSeconds(r.seconds) }) : _("✓ Recognized"))
        : r.skipped ? _("✗ Skipped") : almost(r) ? _("Almost: right, but not sure enough") : _("✗ Not recognized");
      const thought = document.createElement("p");
      thought.className = "thought small";
      const t = drawn ? aiThought(r) : "";
      thought.textContent = !drawn ? _("No doodle this round.") : t ? _("The AI thought: %(things)s.", { things: t })
        : _("The AI had no guess.");
      li.append(button, word, verdict, thought);
      el.summaryList.append(li);
      tiles.push([canvas, drawing]);
    }
    show(el.summary, true);
    el.summary.scrollTop = 0;
    for (const [canvas, drawing] of tiles) drawMini(canvas, drawing, Infinity);
    el.again.focus({ preventScroll: true });
    say(_("The AI recognized %(got)s of %(n)s.", { got, n: results.length }));
  }

  // --- the connection --------------------------------------------------------------------
  function saveGame() {
    try {
      sessionStorage.setItem(STORE_GAME, JSON.stringify({ game_id: state.gameId, token: state.token }));
    } catch { /* ignore */ }
  }
  function forgetGame() { try { sessionStorage.removeItem(STORE_GAME); } catch { /* ignore */ } }
  function savedGame() {
    try { return JSON.parse(sessionStorage.getItem(STORE_GAME) || "null"); } catch { return null; }
  }

  function connecting(title, message, actions = false) {
    dropTimers();
    show(el.promptCard, false);
    show(el.resultCard, false);
    show(el.summary, false);
    el.connectTitle.textContent = title;
    el.connectMessage.textContent = message;
    el.connectActions.hidden = !actions;
    show(el.connectCard, true);
    if (actions) el.newGame.focus({ preventScroll: true });
    setPhase(actions ? "lost" : "connecting");
  }

  function resetGame() {
    state.gameId = null; state.token = null; state.round = null; state.finalResults = null;
    state.over = new Set(); state.results = []; pad.reset();
    el.game.dataset.word = "";
    redraw();
  }

  function newGame() {
    resetGame();
    forgetGame();
    hush();
    connecting(_("Getting the AI ready…"), _("Dealing the words."));
    // The open dataset toggle (templates/_dataset_toggle.html): its choice goes with each new game.
    const payload = { ...state.requested, ...window.DoodleDataset.fields() };
    socket.timeout(15000).emit("new_game", payload, (err, ack) => {
      if (err || !ack || !ack.ok) {
        const why = err ? _("The server did not answer.") : (ack && ack.error) || _("The server said no.");
        // Settings from the address the server refused: the next try plays the defaults.
        if (ack && ack.code === "bad_payload" && Object.keys(state.requested).length) state.requested = {};
        connecting(_("Couldn't start a game"), why, true);
        return;
      }
      state.gameId = ack.game_id;
      state.token = ack.token;
      saveGame();
      // The first `round` follows.
    });
  }

  function adoptDrawing(drawing) {
    // The server's copy of the drawing so far (Google's raw format) becomes ours.
    pad.adopt(drawing);
    refreshButtons();
  }

  // When the server refused ink, its drawing and ours differ (and the next stroke index
  // would be refused too): fetch its copy through `resume`, which answers on a live
  // connection as well, and draw on from there.
  let resyncTimer = 0;
  function resync() {
    if (resyncTimer || !state.gameId) return;
    resyncTimer = setTimeout(() => {
      resyncTimer = 0;
      const round = state.round && state.round.index;
      endStroke();
      socket.timeout(10000).emit("resume", { game_id: state.gameId, token: state.token }, (err, ack) => {
        if (err || !ack || !ack.ok || !ack.round || !state.round) return;
        if (ack.round.index === round && state.round.index === round && state.phase === "drawing") {
          pad.dropPending();
          adoptDrawing(ack.drawing);
        }
      });
    }, 300);
  }

  function resume(saved) {
    socket.timeout(10000).emit("resume", { game_id: saved.game_id, token: saved.token }, (err, ack) => {
      if (err || !ack || !ack.ok) {
        forgetGame();
        const why = err ? _("The server did not answer.") : (ack && ack.error) || _("The game has ended.");
        connecting(_("Your game is gone"), _("%(why)s Start a new one?", { why }), true);
        return;
      }
      state.gameId = saved.game_id;
      state.token = saved.token;
      state.results = [];
      state.over = new Set();
      for (const r of ack.results || []) { state.results[r.index] = r; state.over.add(r.index); }
      const r = ack.round;
      const total = r ? r.total : state.results.length;
      if (!r || (state.over.size >= total && total > 0)) { showSummary(state.results); forgetGame(); return; }
      const over = state.over.has(r.index);
      // The game's clock stood still while we were away: `starts_in` is the prompt left,
      // `remaining` the round's time left.
      let elapsed = null;
      if (!(Number(r.starts_in) > 0)) {
        elapsed = typeof r.remaining === "number" ? Math.max(0, r.seconds - r.remaining)
          : typeof r.elapsed === "number" ? r.elapsed : 0;
      }
      beginRound(r, { elapsed });
      adoptDrawing(ack.drawing);
      if (over) showResult(state.results[r.index]);
      toast(_("Reconnected."), 2000);
    });
  }

  const socket = io({ reconnectionDelayMax: 4000 });
  let everConnected = false;

  socket.on("connect", () => {
    delete el.game.dataset.offline;
    const saved = savedGame();
    if (!everConnected) {
      everConnected = true;
      // A reload keeps the game; a fresh visit (the home page's button) starts a new one.
      const nav = performance.getEntriesByType("navigation")[0];
      if (saved && nav && nav.type === "reload") resume(saved); else newGame();
    } else if (state.gameId && state.phase !== "over") {
      resume({ game_id: state.gameId, token: state.token });
    }
  });

  socket.on("disconnect", (reason) => {
    endStroke();
    pad.dropPending();
    el.game.dataset.offline = "1";
    if (state.phase === "over") return;
    toast(_("Connection lost, reconnecting…"), 8000);
    if (reason === "io server disconnect") socket.connect();
  });

  socket.on("connect_error", () => {
    if (!everConnected) connecting(_("Can't reach the game server"), _("Retrying…"));
  });

  socket.on("round", (r) => {
    if (r.game_id && state.gameId && r.game_id !== state.gameId) return;
    beginRound(r);
  });
  socket.on("guess", onGuess);
  socket.on("round_over", (r) => {
    if (r.game_id && state.gameId && r.game_id !== state.gameId) return;
    onRoundOver(r);
  });
  socket.on("game_over", (g) => {
    if (g.game_id && state.gameId && g.game_id !== state.gameId) return;
    forgetGame();
    const results = g.results || state.results;
    const delay = Math.max(0, state.roundOverAt + FINAL_RESULT_MS - performance.now());
    state.results = results;
    state.finalResults = results;
    setPhase("result");
    runBar(el.resultBar, delay);
    later(() => showSummary(results), delay);
  });
  socket.on("error", (e) => {
    e = e || {};
    // Ink that crosses the end of the round is expected; the round_over says the rest.
    if (e.code === "round_over" && ["ink", "undo", "clear", "skip", "next"].includes(e.event)) return;
    if (["ink", "undo", "clear"].includes(e.event) && state.phase === "drawing") resync();
    if (e.code === "not_started") return;  // a clock a hair early; the resync fixes it
    toast(e.message || _("Something went wrong."));
  });

  // For debugging in the console, and for the end-to-end test.
  window.doodleLab = Object.freeze({ socket, state });

  // --- go --------------------------------------------------------------------------------
  renderMute();
  pad.resize();
  setPhase("connecting");
})();
