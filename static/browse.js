// The data browser's replay: a click on a drawing opens it larger and redraws it stroke
// by stroke with its original timing (Google's raw t, ms from the drawing's start).
// Simplified drawings have no t: they replay at a steady pace. The drawings come from
// the page itself (#replay-data), so a replay costs no request.
// On /data itself it filters the words as the visitor types (the second part below).
(() => {
  "use strict";

  const STEP_MS = 20;         // a simplified drawing: one point every STEP_MS...
  const STROKE_GAP_MS = 200;  // ...and a pause between strokes
  const LINE = 4;

  const { _ } = window.DoodleI18n;
  const $ = (id) => document.getElementById(id);
  if (!$("replay-data")) return; // not a page of drawings
  const dialog = $("replay"), canvas = $("replay-canvas"), note = $("replay-note");
  const drawings = JSON.parse($("replay-data").textContent);
  const g = canvas.getContext("2d");
  let current = null, frame = 0;

  // Points as {x, y, t, stroke}, with t made up at a steady pace where the drawing has none.
  function timeline(drawing) {
    const points = [];
    let clock = 0;
    drawing.forEach((s, k) => {
      const timed = s.length > 2;
      for (let i = 0; i < s[0].length; i++) {
        const t = timed ? s[2][i] : clock + i * STEP_MS;
        points.push({ x: s[0][i], y: s[1][i], t, stroke: k });
      }
      clock = (timed ? s[2][s[2].length - 1] : clock + s[0].length * STEP_MS) + STROKE_GAP_MS;
    });
    const t0 = points.length ? Math.min(...points.map((p) => p.t)) : 0;
    for (const p of points) p.t -= t0;
    return points;
  }

  function fit() {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(Math.max(1, r.width) * dpr);
    canvas.height = Math.round(Math.max(1, r.height) * dpr);
  }

  // Scale the drawing's box into the canvas, centred, with a margin.
  function transform(points) {
    const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
    const x0 = Math.min(...xs), y0 = Math.min(...ys);
    const w = Math.max(...xs) - x0 || 1, h = Math.max(...ys) - y0 || 1;
    const k = 0.88 * Math.min(canvas.width / w, canvas.height / h);
    const ox = (canvas.width - w * k) / 2, oy = (canvas.height - h * k) / 2;
    return (p) => [ox + (p.x - x0) * k, oy + (p.y - y0) * k];
  }

  function paint(points, upto, at) {
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.lineWidth = LINE * (window.devicePixelRatio || 1);
    g.lineCap = "round"; g.lineJoin = "round"; g.strokeStyle = "#1d1d1f";
    let stroke = -1;
    g.beginPath();
    for (let i = 0; i < upto; i++) {
      const [x, y] = at(points[i]);
      if (points[i].stroke !== stroke) { g.moveTo(x, y); stroke = points[i].stroke; }
      g.lineTo(x, y);  // a lone point still shows: a zero-length line with round caps
    }
    g.stroke();
    dialog.dataset.points = String(upto);
  }

  function replay(index) {
    cancelAnimationFrame(frame);
    current = index;
    const item = drawings[index];
    const points = timeline(item.drawing);
    fit();
    const at = transform(points);
    const timed = item.drawing.some((s) => s.length > 2);
    note.textContent = `key_id ${item.key_id} · ${timed ? _("its original timing") : _("no timing in the simplified file: a steady pace")}`;
    dialog.dataset.replaying = "1";
    dialog.dataset.replayed = "0";
    const start = performance.now();
    const tick = (now) => {
      const elapsed = now - start;
      let upto = 0;
      while (upto < points.length && points[upto].t <= elapsed) upto++;
      paint(points, upto, at);
      if (upto < points.length) {
        frame = requestAnimationFrame(tick);
      } else {
        dialog.dataset.replaying = "0";
        dialog.dataset.replayed = "1";
      }
    };
    paint(points, 0, at);
    frame = requestAnimationFrame(tick);
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest(".drawing-view");
    if (!button) return;
    const index = Number(button.dataset.index);
    if (!drawings[index]) return;
    if (!dialog.open) dialog.showModal();
    replay(index);
  });
  // Moderation: a delete is for good, so it asks first.
  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) e.preventDefault();
  });
  $("replay-again").addEventListener("click", () => { if (current !== null) replay(current); });
  $("replay-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { cancelAnimationFrame(frame); dialog.dataset.replaying = "0"; });
})();

// /data's finder (templates/browse_index.html): the server lists every word, drawn ones first,
// in the page's alphabetical order, and hides those its `q` and `show` leave out; this
// applies the same filter as the visitor types or picks, with no request. Each row's
// data-name is its name folded as the server folds it (game/i18n.py's `fold`): no
// accents, no case, so "angel" finds "ángel".
(() => {
  "use strict";

  const form = document.getElementById("data-find");
  if (!form) return;
  const { _, number } = window.DoodleI18n;
  const input = form.elements.q;
  const shown = document.getElementById("data-shown");
  const rows = [...document.querySelectorAll(".data-counts tbody tr")];
  const fold = (text) => text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();

  function show() {
    const checked = form.querySelector('input[name="show"]:checked');
    return checked ? checked.value : "all";
  }

  function apply() {
    const needle = fold(input.value.trim());
    const all = show() === "all";
    let n = 0, matching = 0;
    for (const row of rows) {
      const matches = row.dataset.name.includes(needle);
      const visible = matches && (all || Number(row.dataset.drawings) > 0);
      row.hidden = !visible;
      if (visible) n++;
      if (matches) matching++;
    }
    let text = _("Showing %(num)s of %(total)s words.", { num: number(n), total: number(rows.length) });
    const query = input.value.trim();
    if (needle && !n) {
      text += " " + (matching
        ? _("No word with drawings matches “%(query)s”: pick all the words to see the others.", { query })
        : _("No word matches “%(query)s”.", { query }));
    }
    shown.textContent = text;
    // The address keeps the search, so a reload or a shared link shows the same list.
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    if (form.querySelector('input[name="show"]')) params.set("show", show());
    const search = params.toString();
    history.replaceState(null, "", search ? `?${search}` : location.pathname);
  }

  input.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
})();
