// The vision lab's task page (templates/vision_task.html): sends a photo or a clip to
// POST /api/vision/<task> and draws the JSON result (game/vision/tasks.py lists its fields);
// on the generation page, queues a job there and follows its progress as server-sent events.
// The server words its errors and notes in the page's language; the page's own text comes
// from static/i18n.js.
(() => {
  "use strict";
  const main = document.querySelector(".vision[data-task]");
  if (!main) return;
  const { _, ngettext, word, number, locale } = window.DoodleI18n;
  const task = main.dataset.task;
  const takes = main.dataset.takes; // "photo", "video", or "" (generation: no input)
  // The doodle model's labels are the game's English category ids, named in the page's
  // language; the other models' (ImageNet's, COCO's, ADE20K's) stay as the model gives them.
  const labelText = task === "doodle" ? word : (label) => label;
  const percent = (x, digits) => `${number(x * 100, digits)} %`;
  const form = main.querySelector(".vision-form");
  const status = main.querySelector(".vision-status");
  const result = main.querySelector(".vision-result");
  const models = main.querySelector("form.vision-model");
  // The detection API returns boxes down to this score; the slider filters them on the page.
  const DETECTION_FLOOR = 0.05;
  const DETECTION_START = 0.5;
  let lastFile = null;

  if (models) models.addEventListener("change", () => models.submit()); // the page on the model chosen
  if (!form) return; // the model is not downloaded: the page says so

  for (const input of form.querySelectorAll('input[type="file"]')) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      input.value = ""; // the same photo again fires change again
      if (file) send(file);
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault(); // zero-shot: new labels for the same photo; generation: start
    if (!takes) generate();
    else if (lastFile) send(lastFile);
  });

  function el(tag, props = {}, children = []) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.classList.toggle("is-error", kind === "error");
    status.classList.toggle("is-busy", kind === "busy");
  }

  async function send(file) {
    lastFile = file;
    const body = new FormData();
    body.append(takes === "video" ? "video" : "image", file);
    body.append("model", form.elements.model.value);
    body.append("photo", "1");
    if (task === "detection") body.append("threshold", String(DETECTION_FLOOR));
    if (form.elements.labels) body.append("labels", form.elements.labels.value);
    setStatus(takes === "video" ? _("Watching your clip…") : _("Looking at your photo…"), "busy");
    main.setAttribute("aria-busy", "true");
    let data;
    try {
      const response = await fetch(main.dataset.api, { method: "POST", body });
      const answered = _("the server answered %(status)s", { status: response.status });
      data = await response.json().catch(() => ({ error: answered }));
      if (!response.ok) throw new Error(data.error || answered);
    } catch (err) {
      setStatus(err.message, "error");
      result.hidden = true; // the last photo's result is not this one's
      return;
    } finally {
      main.removeAttribute("aria-busy");
    }
    const submit = form.querySelector('button[type="submit"]');
    if (submit) submit.disabled = false;
    setStatus(_("%(model)s answered in %(seconds)s s", { model: data.model, seconds: number(data.seconds, 2) }));
    if (data.notes.length) status.append(el("ul", { className: "vision-notes" }, data.notes.map((n) => el("li", { textContent: n }))));
    render(data);
  }

  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(_("the browser could not show the result image")));
      img.src = src;
    });
  }

  function canvasFor(photo, data) {
    const canvas = el("canvas", { className: "vision-canvas", width: data.width, height: data.height });
    canvas.getContext("2d").drawImage(photo, 0, 0, data.width, data.height);
    return canvas;
  }

  function bars(labels) {
    return el("ol", { className: "vision-bars" }, labels.map(({ label, score }) => {
      const fill = el("span");
      fill.style.width = `${(score * 100).toFixed(1)}%`;
      return el("li", {}, [
        el("span", { className: "bar-label", textContent: labelText(label) }),
        el("span", { className: "bar-score", textContent: percent(score, 1) }),
        el("span", { className: "bar", role: "presentation" }, [fill]),
      ]);
    }));
  }

  // Distinct colours for labels and segments: hues a golden angle apart.
  const colour = (i, alpha = 1) => `hsla(${(i * 137.508) % 360}, 85%, 50%, ${alpha})`;

  async function render(data) {
    result.replaceChildren();
    result.hidden = false;
    const stage = el("div", { className: "vision-stage" });
    result.append(stage);
    if (data.frames) drawFrames(stage, data);
    else if (data.upscaled) drawUpscaled(stage, data);
    else if (data.image) drawGenerated(stage, data);
    else await drawOnPhoto(stage, data);
    if (data.bitmap) {
      result.append(el("figure", {}, [
        el("img", { className: "vision-bitmap", src: data.bitmap, alt: _("the 28 by 28 doodle the model saw") }),
        el("figcaption", { className: "small", textContent: _("What the doodle model saw: 28 × 28 pixels, ink in white.") }),
      ]));
    }
    if (data.labels) result.append(bars(data.labels));
    result.dataset.ready = "1";
  }

  async function drawOnPhoto(stage, data) {
    const photo = await loadImage(data.photo);
    if (data.objects) drawObjects(stage, photo, data);
    else if (data.segments) await drawSegments(stage, photo, data);
    else if (data.depth) drawDepth(stage, photo, data);
    else stage.append(canvasFor(photo, data));
  }

  // Video: the frames the model looked at, in order, each with its time in the clip.
  function drawFrames(stage, data) {
    stage.append(
      el("ol", { className: "vision-frames" }, data.frames.map(({ time, jpeg }) => el("li", {}, [
        el("img", { src: jpeg, alt: _("the frame at %(seconds)s s", { seconds: number(time, 1) }) }),
        el("span", { textContent: `${number(time, 1)} s` }),
      ]))),
      el("p", { className: "small", textContent: _("The model looked at these %(n)s frames of the %(decoded)s in the clip (%(seconds)s s).",
        { n: data.frames.length, decoded: data.decoded, seconds: number(data.duration, 1) }) }),
    );
  }

  // Super-resolution: the model's input, enlarged by the browser, and the model's result in
  // one box; the slider moves the line between them.
  function drawUpscaled(stage, data) {
    const { png, input, width, height, scale } = data.upscaled;
    const after = el("img", { className: "vision-after", src: png, alt: _("the result, %(scale)s times larger", { scale }) });
    const slider = el("input", { type: "range", min: "0", max: "100", step: "1", value: "50" });
    const show = () => { after.style.clipPath = `inset(0 0 0 ${slider.value}%)`; };
    slider.addEventListener("input", show);
    show();
    stage.append(
      el("div", { className: "vision-compare" }, [
        el("img", { src: input, alt: _("the photo as the model got it") }), after,
        el("span", { className: "vision-compare-left", textContent: _("Enlarged") }),
        el("span", { className: "vision-compare-right", textContent: _("Super-resolution") }),
      ]),
      el("label", { className: "vision-slider" }, [_("Compare: plain enlargement on the left, the model's result on the right"), slider]),
      el("p", { className: "small", textContent: _("%(width)s × %(height)s pixels, %(scale)s times the photo the model got.", { width, height, scale }) }),
      el("p", {}, [el("a", { className: "btn", href: png, download: `${task}-x${scale}.png`, textContent: _("Download the result (PNG)") })]),
    );
  }

  function drawGenerated(stage, data) {
    const { png, width, height } = data.image;
    stage.append(
      el("figure", {}, [
        el("img", { className: "vision-generated", src: png, alt: _("the generated image") }),
        el("figcaption", { textContent: _("%(width)s × %(height)s pixels, after %(steps)s steps", { width, height, steps: data.steps }) }),
      ]),
      el("p", {}, [el("a", { className: "btn", href: png, download: "generated.png", textContent: _("Download the image (PNG)") })]),
    );
  }

  // Generation: POST queues a job (202, or 429 / 503 with the reason); its events say how
  // far it is, then carry the image. Cancel stops it on the server; so does leaving the page.
  const progress = main.querySelector(".vision-progress");
  const cancel = main.querySelector(".vision-cancel");
  let current = null; // {job, source}

  async function generate() {
    const start = form.querySelector('button[type="submit"]');
    const body = new FormData(form);
    setStatus(_("Starting…"), "busy");
    start.disabled = true;
    let job;
    try {
      const response = await fetch(main.dataset.api, { method: "POST", body });
      const answered = _("the server answered %(status)s", { status: response.status });
      job = await response.json().catch(() => ({ error: answered }));
      if (!response.ok) throw new Error(job.error || answered);
    } catch (err) {
      setStatus(err.message, "error");
      start.disabled = false;
      return;
    }
    follow(job);
  }

  function follow(job) {
    const bar = progress.querySelector("progress");
    const text = progress.querySelector(".vision-progress-text");
    bar.max = job.steps;
    bar.value = 0;
    progress.hidden = false;
    cancel.hidden = false;
    result.hidden = true;
    const source = new EventSource(job.events);
    current = { job, source };
    source.addEventListener("progress", (event) => {
      const p = JSON.parse(event.data);
      if (p.state === "queued") {
        text.textContent = ngettext("Waiting for the server: %(n)s image before yours", "Waiting for the server: %(n)s images before yours",
          p.position + 1);
        return;
      }
      bar.value = p.step;
      text.textContent = _("Step %(step)s of %(steps)s (%(percent)s)", { step: p.step, steps: p.steps, percent: percent(p.step / p.steps, 0) });
      setStatus(_("Denoising…"), "busy");
    });
    source.addEventListener("done", (event) => {
      const data = JSON.parse(event.data);
      bar.value = bar.max;
      text.textContent = _("Step %(step)s of %(steps)s (%(percent)s)", { step: data.steps, steps: data.steps, percent: percent(1, 0) });
      stop();
      setStatus(_("%(model)s answered in %(seconds)s s", { model: data.model, seconds: number(data.seconds, 2) }));
      render(data);
    });
    for (const kind of ["failed", "cancelled"]) {
      source.addEventListener(kind, (event) => {
        const { error } = JSON.parse(event.data);
        stop();
        progress.hidden = true;
        setStatus(kind === "failed" ? error : _("Cancelled."), kind === "failed" ? "error" : undefined);
      });
    }
  }

  function stop() {
    if (current) current.source.close();
    current = null;
    cancel.hidden = true;
    form.querySelector('button[type="submit"]').disabled = false;
  }

  if (cancel) {
    cancel.addEventListener("click", async () => {
      if (!current) return;
      cancel.disabled = true;
      try {
        await fetch(current.job.cancel, { method: "POST" }); // the stream then says "cancelled"
      } finally {
        cancel.disabled = false;
      }
    });
  }

  function drawObjects(stage, photo, data) {
    const canvas = canvasFor(photo, data);
    const ctx = canvas.getContext("2d");
    const labelIndex = new Map();
    const slider = el("input", { type: "range", min: String(DETECTION_FLOOR), max: "1", step: "0.05", value: String(DETECTION_START) });
    const caption = el("span");
    function redraw() {
      const threshold = Number(slider.value);
      // Sizes in screen pixels: the canvas is shown scaled to the page's width.
      const k = data.width / (canvas.clientWidth || data.width);
      const line = Math.max(1, Math.round(2 * k));
      const font = Math.round(13 * k);
      ctx.drawImage(photo, 0, 0, data.width, data.height);
      ctx.lineWidth = line;
      ctx.font = `700 ${font}px system-ui, sans-serif`;
      ctx.textBaseline = "top";
      const shown = data.objects.filter((o) => o.score >= threshold);
      for (const { label, score, box: [x0, y0, x1, y1] } of shown) {
        if (!labelIndex.has(label)) labelIndex.set(label, labelIndex.size);
        const c = colour(labelIndex.get(label));
        ctx.strokeStyle = c;
        ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
        const text = `${label} ${percent(score, 0)}`;
        const w = ctx.measureText(text).width + 2 * line;
        const ty = y0 >= font + 2 * line ? y0 - font - 2 * line : y0;
        ctx.fillStyle = c;
        ctx.fillRect(x0, ty, w, font + 2 * line);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, x0 + line, ty + line);
      }
      caption.textContent = ngettext("%(shown)s of %(n)s object with a score of at least %(threshold)s",
        "%(shown)s of %(n)s objects with a score of at least %(threshold)s", data.objects.length,
        { shown: shown.length, threshold: number(threshold, 2) });
    }
    slider.addEventListener("input", redraw);
    stage.append(canvas, el("label", { className: "vision-slider" }, [_("Score threshold"), slider, caption]));
    redraw();
  }

  async function drawSegments(stage, photo, data) {
    const canvas = canvasFor(photo, data);
    const ctx = canvas.getContext("2d");
    // One coloured, half-transparent layer a segment, made once from its mask PNG.
    const layers = await Promise.all(data.segments.map(async (seg, i) => {
      const mask = await loadImage(seg.mask);
      const layer = el("canvas", { width: data.width, height: data.height });
      const lctx = layer.getContext("2d");
      lctx.drawImage(mask, 0, 0, data.width, data.height);
      const pixels = lctx.getImageData(0, 0, data.width, data.height);
      const rgb = hslToRgb((i * 137.508) % 360, 0.85, 0.5);
      const p = pixels.data;
      for (let j = 0; j < p.length; j += 4) {
        const on = p[j] > 127;
        p[j] = rgb[0]; p[j + 1] = rgb[1]; p[j + 2] = rgb[2]; p[j + 3] = on ? 140 : 0;
      }
      lctx.putImageData(pixels, 0, 0);
      return layer;
    }));
    const shown = data.segments.map(() => true);
    function redraw() {
      ctx.drawImage(photo, 0, 0, data.width, data.height);
      layers.forEach((layer, i) => { if (shown[i]) ctx.drawImage(layer, 0, 0); });
    }
    const legend = el("ul", { className: "vision-legend", ariaLabel: _("Segments: untick to hide") },
      data.segments.map((seg, i) => {
        const box = el("input", { type: "checkbox", checked: true });
        box.addEventListener("change", () => { shown[i] = box.checked; redraw(); });
        const swatch = el("span", { className: "swatch" });
        swatch.style.background = colour(i);
        const text = seg.score == null
          ? _("%(label)s (%(area)s of the photo)", { label: seg.label, area: percent(seg.area, 0) })
          : _("%(label)s (%(area)s of the photo, score %(score)s)", { label: seg.label, area: percent(seg.area, 0), score: percent(seg.score, 0) });
        return el("li", {}, [el("label", {}, [box, swatch, text])]);
      }));
    redraw();
    stage.append(canvas, legend);
  }

  function hslToRgb(h, s, l) {
    const k = (n) => (n + h / 30) % 12;
    const a = s * Math.min(l, 1 - l);
    const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
    return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
  }

  const threeDigits = (x) => x.toLocaleString(locale, { maximumSignificantDigits: 3 });

  function drawDepth(stage, photo, data) {
    const { png, scale, min, max } = data.depth;
    stage.classList.add("is-pair");
    stage.append(
      el("figure", {}, [canvasFor(photo, data), el("figcaption", { textContent: _("The photo") })]),
      el("figure", {}, [el("img", { src: png, alt: _("the depth map") }), el("figcaption", { textContent: _("Depth, as the model sees it") })]),
    );
    stage.after(
      el("div", { className: "vision-scale" }, [
        el("span", { textContent: threeDigits(min) }),
        el("img", { src: scale, alt: _("colour scale, from the lowest value on the left to the highest on the right") }),
        el("span", { textContent: threeDigits(max) }),
      ]),
      el("p", { className: "small", textContent: _("DPT models give relative inverse depth (bright is near); ZoeDepth gives metres (bright is far).") }),
      el("p", {}, [el("a", { className: "btn", href: png, download: `depth-${data.model.replace(/\W+/g, "-")}.png`, textContent: _("Download the depth map (PNG)") })]),
    );
  }
})();
