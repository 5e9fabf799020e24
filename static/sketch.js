// Doodle Lab: the drawing canvas shared by the solo game (play.js) and the classroom's
// phones (join.js) and projector (classroom.js). A plain script: it defines
// window.DoodleSketch = { createPad, createRoundPad, drawMini, strokePath, hasInk, toaster, rerouter, ... }.
//
// createPad: a touch/mouse/pen canvas that keeps the drawing in "drawing space" (the
// canvas's CSS px when the round started; after a resize the drawing is fitted, centred,
// and new points are mapped back, so the server always gets one coordinate space) and
// sends its new points in batches through `send(stroke, points)`.
(() => {
  "use strict";

  const LINE_WIDTH = 5;                // CSS px at 1:1
  const INK = "#1d1d1f";
  const MIN_STEP = 1;                  // CSS px: closer points add nothing but bytes
  const MAX_POINTS_MESSAGE = 500;      // protocol limits
  const MAX_POINTS_DRAWING = 5000;

  function strokePath(c, xs, ys, n) {
    if (n <= 0) return;
    if (n === 1) {
      c.beginPath();
      c.arc(xs[0], ys[0], c.lineWidth / 2, 0, Math.PI * 2);
      c.fill();
      return;
    }
    c.beginPath();
    c.moveTo(xs[0], ys[0]);
    for (let i = 1; i < n; i++) c.lineTo(xs[i], ys[i]);
    c.stroke();
  }

  function hasInk(drawing) {
    return Array.isArray(drawing) && drawing.some((s) => Array.isArray(s[0]) && s[0].length > 0);
  }

  // Raw drawings carry t (ms since the round's clock started); without it, 20 ms a point.
  function strokeTime(ts, i) { return ts && ts.length > i ? ts[i] : i * 20; }
  function firstTime(drawing) {
    const s = drawing.find((st) => st[0].length);
    return s ? strokeTime(s[2], 0) : 0;
  }

  // A drawing ([[xs], [ys], [ts]] strokes) fitted into `canvas`, up to `untilMs` after its
  // first point (Infinity: all of it).
  function drawMini(canvas, drawing, untilMs = Infinity) {
    const rect = canvas.getBoundingClientRect();
    const w = Math.max(1, rect.width), h = Math.max(1, rect.height);
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const c = canvas.getContext("2d");
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, canvas.width, canvas.height);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [xs, ys] of drawing) {
      for (let i = 0; i < xs.length; i++) {
        x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]);
        y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]);
      }
    }
    if (!Number.isFinite(x0)) return;
    const pad = 8;
    const k = Math.min((w - 2 * pad) / Math.max(1, x1 - x0), (h - 2 * pad) / Math.max(1, y1 - y0), 1.5);
    const ox = (w - (x1 - x0) * k) / 2 - x0 * k, oy = (h - (y1 - y0) * k) / 2 - y0 * k;
    c.setTransform(dpr * k, 0, 0, dpr * k, dpr * ox, dpr * oy);
    c.lineCap = "round"; c.lineJoin = "round";
    c.lineWidth = Math.max(2, LINE_WIDTH * Math.min(1, w / 240)) / k;
    c.strokeStyle = INK; c.fillStyle = INK;
    const t0 = firstTime(drawing);
    for (const [xs, ys, ts] of drawing) {
      let n = xs.length;
      if (untilMs !== Infinity) {
        n = 0;
        while (n < xs.length && strokeTime(ts, n) - t0 <= untilMs) n++;
      }
      strokePath(c, xs, ys, n);
    }
  }

  // options: canvas, board (the element whose size the canvas follows), canDraw(),
  // inkTime(event) (ms on the round's clock), send(stroke, points), and optional
  // onChange() (a stroke began), onInkLimit(), onPointerDown(), flushMs (75).
  function createPad(o) {
    const canvas = o.canvas;
    const ctx = canvas.getContext("2d");
    const flushMs = o.flushMs || 75;
    const view = { w: 0, h: 0, dpr: 1, baseW: 0, baseH: 0, scale: 1, ox: 0, oy: 0 };
    const pad = {
      strokes: [],        // the drawing so far: [{x: [], y: [], t: []}], in drawing space
      points: 0,          // points in `strokes`
      active: null,       // {pointerId, stroke} while a stroke is being drawn
      pending: [],        // [x, y, t] not yet sent
      pendingStroke: 0,   // the stroke `pending` belongs to
      flushTimer: 0,
    };

    function resize() {
      const rect = canvas.getBoundingClientRect();
      // A hidden canvas has no size: a drawing space taken from it would scale the ink
      // hundreds of times. It is measured when it shows.
      if (rect.width < 1 || rect.height < 1) return;
      const w = rect.width, h = rect.height;
      const dpr = window.devicePixelRatio || 1;
      if (w === view.w && h === view.h && dpr === view.dpr && view.baseW) return;
      view.w = w; view.h = h; view.dpr = dpr;
      // High-DPI: the backing store has device pixels; we draw in CSS pixels through the transform.
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      if (!view.baseW) { view.baseW = w; view.baseH = h; }
      fitView();
      redraw();
    }

    // A new drawing space, the canvas's size now, or when it next shows if it is hidden.
    function resetSpace() {
      view.baseW = 0;
      view.baseH = 0;
      resize();
    }

    function fitView() {
      const s = Math.min(view.w / view.baseW, view.h / view.baseH) || 1;
      view.scale = Math.abs(s - 1) < 0.01 ? 1 : s;
      view.ox = (view.w - view.baseW * view.scale) / 2;
      view.oy = (view.h - view.baseH * view.scale) / 2;
    }

    function applyTransform() {
      const k = view.dpr * view.scale;
      ctx.setTransform(k, 0, 0, k, view.dpr * view.ox, view.dpr * view.oy);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.lineWidth = LINE_WIDTH;
      ctx.strokeStyle = INK;
      ctx.fillStyle = INK;
    }

    function redraw() {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      applyTransform();
      for (const s of pad.strokes) strokePath(ctx, s.x, s.y, s.x.length);
    }

    function drawSegment(s) {
      applyTransform();
      const n = s.x.length;
      if (n === 1) { strokePath(ctx, s.x, s.y, 1); return; }
      ctx.beginPath();
      ctx.moveTo(s.x[n - 2], s.y[n - 2]);
      ctx.lineTo(s.x[n - 1], s.y[n - 1]);
      ctx.stroke();
    }

    function toDrawing(clientX, clientY) {
      const r = canvas.getBoundingClientRect();
      const x = (clientX - r.left - view.ox) / view.scale;
      const y = (clientY - r.top - view.oy) / view.scale;
      return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
    }

    function addPoint(e, first) {
      const stroke = pad.strokes[pad.active.stroke];
      const [x, y] = toDrawing(e.clientX, e.clientY);
      const n = stroke.x.length;
      let t = o.inkTime(e);
      if (!first) {
        if (Math.hypot(x - stroke.x[n - 1], y - stroke.y[n - 1]) < MIN_STEP / view.scale) return;
        t = Math.max(t, stroke.t[n - 1]);
      }
      if (pad.points >= MAX_POINTS_DRAWING) {
        if (o.onInkLimit) o.onInkLimit();
        return;
      }
      stroke.x.push(x); stroke.y.push(y); stroke.t.push(t);
      pad.points += 1;
      pad.pending.push([x, y, t]);
      drawSegment(stroke);
      if (!pad.flushTimer) pad.flushTimer = setTimeout(flush, flushMs);
    }

    function flush() {
      clearTimeout(pad.flushTimer);
      pad.flushTimer = 0;
      if (!pad.pending.length) return;
      const points = pad.pending;
      pad.pending = [];
      for (let i = 0; i < points.length; i += MAX_POINTS_MESSAGE) {
        o.send(pad.pendingStroke, points.slice(i, i + MAX_POINTS_MESSAGE));
      }
    }

    function dropPending() {
      pad.pending = [];
      clearTimeout(pad.flushTimer);
      pad.flushTimer = 0;
    }

    function startStroke(e) {
      flush();
      const index = pad.strokes.length;
      pad.strokes.push({ x: [], y: [], t: [] });
      pad.active = { pointerId: e.pointerId, stroke: index };
      pad.pendingStroke = index;
      addPoint(e, true);
      if (pad.strokes[index].x.length === 0) {  // over the ink limit: nothing was added
        pad.strokes.pop();
        pad.active = null;
        return;
      }
      if (o.onChange) o.onChange();
    }

    function endStroke() {
      if (!pad.active) return;
      pad.active = null;
      flush();
    }

    // A new, empty drawing (a new round); the caller redraws when it wants.
    function reset() {
      pad.active = null;
      dropPending();
      pad.strokes = [];
      pad.points = 0;
    }

    // Undo: the last stroke goes (the caller tells the server); returns it, or null.
    function undo() {
      endStroke();
      flush();
      const s = pad.strokes.pop();
      if (!s) return null;
      pad.points -= s.x.length;
      redraw();
      return s;
    }

    function clear() {
      endStroke();
      dropPending();
      pad.strokes = [];
      pad.points = 0;
      redraw();
    }

    // The server's copy of the drawing so far (Google's raw format) becomes ours.
    function adopt(drawing) {
      pad.strokes = (drawing || []).map(([x, y, t]) => ({ x: [...x], y: [...y], t: t ? [...t] : x.map(() => 0) }));
      pad.points = pad.strokes.reduce((n, s) => n + s.x.length, 0);
      redraw();
    }

    canvas.addEventListener("pointerdown", (e) => {
      if (o.onPointerDown) o.onPointerDown();
      if (!e.isPrimary || pad.active || (e.pointerType === "mouse" && e.button !== 0)) return;
      e.preventDefault();
      if (!o.canDraw()) return;
      try { canvas.setPointerCapture(e.pointerId); } catch { /* synthetic pointers */ }
      startStroke(e);
    });

    canvas.addEventListener("pointermove", (e) => {
      if (!pad.active || e.pointerId !== pad.active.pointerId) return;
      e.preventDefault();
      if (!o.canDraw()) { endStroke(); return; }
      const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
      for (const c of events.length ? events : [e]) addPoint(c, false);
    });

    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(type, (e) => {
        if (pad.active && e.pointerId === pad.active.pointerId) endStroke();
      });
    }

    // No scrolling, pinch or double-tap zoom from the canvas (touch-action does most of
    // it; iOS Safari also needs the touch events cancelled), and no context menu.
    canvas.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());

    if ("ResizeObserver" in window) new ResizeObserver(resize).observe(o.board || canvas);
    window.addEventListener("resize", resize);
    // devicePixelRatio changes (browser zoom, a window moved to another screen) fire no resize.
    (function watchDpr() {
      const mq = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
      mq.addEventListener("change", () => { resize(); watchDpr(); }, { once: true });
    })();

    return Object.assign(pad, { resize, resetSpace, redraw, flush, endStroke, dropPending, reset, undo, clear, adopt });
  }

  // A classroom canvas (a phone's, or the projector's when the teacher draws): the round's
  // clock is `st`'s (round, clockStart, deadline, paused, seq); ink, undo and clear go to the
  // /classroom `socket`; `mayDraw()` says whether this screen draws now.
  function createRoundPad(o) {
    const { st, socket, mayDraw } = o;
    const pad = createPad({
      canvas: o.canvas, board: o.board,
      canDraw: () => mayDraw() && !st.paused && socket.connected
        && performance.now() >= st.clockStart && performance.now() < st.deadline,
      inkTime: (e) => Math.max(0, Math.round((e.timeStamp > 0 ? e.timeStamp : performance.now()) - st.clockStart)),
      send: (stroke, points) => {
        if (!socket.connected || !st.round) return;
        st.seq += 1;
        socket.emit("ink", { round: st.round.index, stroke, points, seq: st.seq });
      },
      onInkLimit: o.onInkLimit,
    });
    o.undo.addEventListener("click", () => {
      if (st.round && mayDraw() && pad.undo()) socket.emit("undo", { round: st.round.index });
    });
    o.clear.addEventListener("click", () => {
      if (!st.round || !mayDraw()) return;
      pad.clear();
      socket.emit("clear", { round: st.round.index });
    });
    return pad;
  }

  // A toast: `toaster(el, ms)` returns show(text), which shows `text` in `el` for `ms`.
  function toaster(el, ms = 4000) {
    let timer = 0;
    return (text) => {
      el.textContent = text;
      el.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(() => { el.hidden = true; }, ms);
    };
  }

  // A classroom connection names its room (`?room=`: with several servers nginx routes it to
  // the room's server, docs/serving.md). `rerouter(socket)`: go(room, then, onTimeout)
  // reconnects naming `room` and calls `then()` once it is up, or `onTimeout()` if it is not
  // within 10 s (as long as an answer may take); the page's "connect" handler first calls
  // connected(), true when it ran a reroute's `then` (the handler stops there).
  function rerouter(socket) {
    let pending = null;
    return {
      go(room, then, onTimeout) {
        socket.io.opts.query.room = room;
        const mine = pending = then;
        socket.disconnect().connect();
        setTimeout(() => {
          if (pending !== mine) return;
          pending = null;
          onTimeout();
        }, 10000);
      },
      connected() {
        if (!pending) return false;
        const then = pending;
        pending = null;
        then();
        return true;
      },
    };
  }

  window.DoodleSketch = Object.freeze({
    createPad, createRoundPad, drawMini, strokePath, hasInk, strokeTime, firstTime, toaster, rerouter, INK, LINE_WIDTH,
  });
})();
