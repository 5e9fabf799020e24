// Doodle Lab: the open dataset's choices kept in this browser (localStorage), shared by the
// contribute page and the games' toggle (templates/_dataset_toggle.html on the play and join
// pages). A plain script: window.DoodleDataset = { consented, contributor, fields, stored, store }.
// The toggle is off until the player turns it on; new_game and join send `fields()`.
(() => {
  "use strict";
  if (window.DoodleDataset) return;

  const CONSENT_KEY = "doodle-lab:dataset";      // "1" while the games' toggle is on
  const CONTRIBUTOR_KEY = "doodle-contributor";  // the anonymous id, the same on every page

  function stored(key) { try { return localStorage.getItem(key); } catch { return null; } }
  function store(key, value) { try { localStorage.setItem(key, value); } catch { /* private mode */ } }

  function consented() { return stored(CONSENT_KEY) === "1"; }

  // Random, made here once: the server checks it is 8 to 64 of [A-Za-z0-9_-].
  function contributor() {
    let id = stored(CONTRIBUTOR_KEY);
    if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      store(CONTRIBUTOR_KEY, id);
    }
    return id;
  }

  // What new_game and join (docs/protocol.md, docs/classroom.md) carry.
  function fields() {
    return consented() ? { contribute: true, contributor: contributor() } : { contribute: false };
  }

  function bind() {
    for (const box of document.querySelectorAll("input[data-dataset-consent]")) {
      box.checked = consented();
      box.addEventListener("change", () => store(CONSENT_KEY, box.checked ? "1" : "0"));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind);
  else bind();
  window.DoodleDataset = Object.freeze({ consented, contributor, fields, stored, store });
})();
