// The contribute page: draw the prompted word, submit it to POST /api/contributions, next.
// Nothing is sent before the consent card is accepted; the consent and an anonymous
// contributor id (random, made by static/dataset.js) are kept in localStorage.
// A drawing is always stored under the word shown while it was drawn: the request carries
// a copy taken at Submit, and the canvas takes no ink while it is saving (phase "saving").
(() => {
  "use strict";

  const CONSENT_KEY = "doodle-contribute-consent";
  const MAX_POINTS = 5000;  // the server's limit (game.protocol.MAX_POINTS_PER_DRAWING)
  const LINE = 6;

  const $ = (id) => document.getElementById(id);
  const root = $("contribute"), canvas = $("canvas"), board = $("board"), statusLine = $("status");
  const words = JSON.parse($("contribute-words").textContent);
  const g = canvas.getContext("2d");

  // strokes: [{x: [], y: [], t: []}], t in ms since the drawing's first point (Google's raw).
  let strokes = [], pointer = null, origin = 0, points = 0, word = "";

  // localStorage and the anonymous contributor id: static/dataset.js, shared with the games.
  const { stored, store, contributor: contributorId } = window.DoodleDataset;
  // Words are English ids (what the API takes): `name` says them in the page's language.
  const { _, word: name } = window.DoodleI18n;

  function say(text) { statusLine.textContent = text; }

  function pickWord() {
    const asked = new URLSearchParams(location.search).get("word");
    if (!word && words.includes(asked)) return asked;  // a shared link (and tests) name one
    if (words.length < 2) return words[0];
    let w;
    do { w = words[Math.floor(Math.random() * words.length)]; } while (w === word);
    return w;
  }

  // A new word always comes with an empty canvas, even mid-stroke.
  function nextWord() {
    word = pickWord();
    $("word").textContent = name(word);
    strokes = []; points = 0; pointer = null;
    paint();
  }

  function setPhase(phase) {
    root.dataset.phase = phase;
    const saving = phase === "saving";
    root.setAttribute("aria-busy", String(saving));
    for (const id of ["btn-undo", "btn-clear", "btn-next", "btn-submit"]) $(id).disabled = saving;
    $("btn-submit").textContent = saving ? _("Saving…") : _("Submit");
  }

  // --- drawing ----------------------------------------------------------------------------
  function fit() {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(Math.max(1, r.width) * dpr);
    canvas.height = Math.round(Math.max(1, r.height) * dpr);
    paint();
  }

  function paint() {
    const dpr = window.devicePixelRatio || 1;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.lineWidth = LINE; g.lineCap = "round"; g.lineJoin = "round"; g.strokeStyle = "#222";
    for (const s of strokes) {
      if (!s.x.length) continue;
      g.beginPath();
      g.moveTo(s.x[0], s.y[0]);
      // A single tap still shows: a zero-length segment with round caps is a dot.
      for (let i = 0; i < s.x.length; i++) g.lineTo(s.x[i], s.y[i]);
      g.stroke();
    }
  }

  function point(e) {
    if (points >= MAX_POINTS) return;
    const r = canvas.getBoundingClientRect(), s = strokes[strokes.length - 1];
    if (!origin) origin = e.timeStamp || performance.now();
    const t = Math.max(0, Math.round((e.timeStamp || performance.now()) - origin));
    s.x.push(Math.round((e.clientX - r.left) * 10) / 10);
    s.y.push(Math.round((e.clientY - r.top) * 10) / 10);
    s.t.push(s.t.length ? Math.max(t, s.t[s.t.length - 1]) : t);
    points += 1;
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (pointer !== null || !e.isPrimary || root.dataset.phase !== "drawing") return;
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch { /* synthetic pointers */ }
    if (!strokes.length) origin = 0;
    pointer = e.pointerId;
    strokes.push({ x: [], y: [], t: [] });
    point(e);
    paint();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (e.pointerId !== pointer) return;
    e.preventDefault();
    const batch = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const c of batch.length ? batch : [e]) point(c);
    paint();
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    canvas.addEventListener(type, (e) => {
      if (e.pointerId !== pointer) return;
      pointer = null;
      if (!strokes[strokes.length - 1].x.length) strokes.pop();  // over the point limit
    });
  }
  canvas.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());

  // --- buttons ----------------------------------------------------------------------------
  $("btn-undo").addEventListener("click", () => {
    if (root.dataset.phase !== "drawing") return;
    const s = strokes.pop();
    if (s) points -= s.x.length;
    paint();
  });
  $("btn-clear").addEventListener("click", () => {
    if (root.dataset.phase !== "drawing") return;
    strokes = []; points = 0; pointer = null; paint();
  });
  $("btn-next").addEventListener("click", () => {
    if (root.dataset.phase !== "drawing") return;
    say(""); nextWord();
  });

  $("btn-submit").addEventListener("click", async () => {
    if (root.dataset.phase !== "drawing" || stored(CONSENT_KEY) !== "1") return;
    if (!strokes.length) { say(_("Draw %(word)s first, then submit.", { word: name(word) })); return; }
    pointer = null;  // a stroke still under a finger ends here: what is sent is what is shown
    const body = { word, consent: true, contributor: contributorId(),
                   drawing: strokes.map((s) => [s.x, s.y, s.t]) };
    setPhase("saving");
    say(_("Saving your %(word)s…", { word: name(word) }));
    try {
      const r = await fetch("/api/contributions", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const reply = await r.json().catch(() => ({}));
      if (r.status !== 201) { say(reply.error || _("Not saved (error %(status)s).", { status: r.status })); return; }
      nextWord();
      const params = { saved: name(reply.word), next: name(word) };
      say(reply.recognized ? _("Thanks! Your %(saved)s is saved, and the AI recognized it! Now: %(next)s.", params)
        : _("Thanks! Your %(saved)s is saved, though the AI didn't guess it. Now: %(next)s.", params));
    } catch {
      say(_("Not saved: the server can't be reached. Try again."));
    } finally {
      setPhase("drawing");
    }
  });

  $("btn-consent").addEventListener("click", () => {
    store(CONSENT_KEY, "1");
    start();
  });

  function start() {
    $("consent-card").hidden = true;
    setPhase("drawing");
    say(_("Draw the word, then press Submit."));
  }

  if ("ResizeObserver" in window) new ResizeObserver(fit).observe(board);
  window.addEventListener("resize", fit);
  nextWord();
  fit();
  if (stored(CONSENT_KEY) === "1") start();
})();
