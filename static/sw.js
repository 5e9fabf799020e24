// Doodle Lab's service worker, served as /sw.js (game/pwa.py fills in VERSION, a hash of
// the shell, and SHELL, its URLs). Pages: the network first, the cached copy when it fails,
// else the "you're offline" page. Static files of the shell: the network first too, the
// cached copy offline; from the cache first, the worker of the release before would serve
// its sketch.js to the new release's classroom.js (not in the shell), which then fails.
// Everything else (Socket.IO, the APIs, the data browser) goes to the network untouched.
"use strict";

const VERSION = "__VERSION__";
const SHELL = ["__SHELL__"];
const CACHE = `doodle-lab-${VERSION}`;
const OFFLINE = "/offline";
const PAGES = new Set(SHELL.filter((url) => !url.startsWith("/static/")));

async function precache() {
  const cache = await caches.open(CACHE);
  // Fresh copies (HTTP caches bypassed), so the shell matches this version.
  await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })));
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith("doodle-lab-") && name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

// static/install.js asks for the shell again after the language changed: the cached pages
// are in the language they were fetched in.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "refresh-shell") event.waitUntil(precache());
});

async function page(request) {
  const url = new URL(request.url);
  try {
    const response = await fetch(request);
    if (response.ok && PAGES.has(url.pathname) && !url.search) {
      const cache = await caches.open(CACHE);
      await cache.put(url.pathname, response.clone());
    }
    return response;
  } catch {
    const cache = await caches.open(CACHE);
    return (await cache.match(url.pathname)) || (await cache.match(OFFLINE))
      || new Response("You're offline.", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/socket.io/")) return;
  if (request.mode === "navigate") {
    event.respondWith(page(request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(async () => (await caches.match(url.pathname)) || Response.error()));
  }
});
