// Doodle Lab as an installed app: registers the service worker (/sw.js, static/sw.js) and
// says so when the network is gone, so a page opened from the cache is clearly offline
// rather than silently broken.
(() => {
  "use strict";
  const { _ } = window.DoodleI18n;
  const LANG_KEY = "doodle-lab:shell-lang";  // localStorage: the language of the cached shell

  let banner = null;
  function showState() {
    const offline = navigator.onLine === false;
    document.documentElement.toggleAttribute("data-offline", offline);
    if (offline && !banner) {
      banner = document.createElement("p");
      banner.className = "offline-banner";
      banner.setAttribute("role", "status");
      banner.textContent = _("You're offline. The AI needs the network to guess: this page will work again when you reconnect.");
      document.body.prepend(banner);
    } else if (!offline && banner) {
      banner.remove();
      banner = null;
    }
  }
  window.addEventListener("online", showState);
  window.addEventListener("offline", showState);
  showState();
  // The offline page's "Try again": a listener, as the Content-Security-Policy runs no inline handler.
  for (const button of document.querySelectorAll("[data-reload]")) button.addEventListener("click", () => location.reload());

  if (!("serviceWorker" in navigator)) return;
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(() => navigator.serviceWorker.ready).then((reg) => {
      let cached = null;
      try { cached = localStorage.getItem(LANG_KEY); } catch { /* private mode */ }
      const lang = document.documentElement.lang;
      // The first visit installed the shell in this page's language: nothing to refresh.
      if (cached !== null && cached !== lang && navigator.onLine !== false && reg.active) {
        reg.active.postMessage({ type: "refresh-shell" });
      }
      try { localStorage.setItem(LANG_KEY, lang); } catch { /* private mode */ }
    }).catch(() => { /* no worker: the site still works online */ });
  });
})();
