"""Image generation as jobs: queued, run one at a time, followed, cancelled.

A DDPM image takes a model pass a step, minutes on a CPU: far longer than a request should
wait. So POST /api/vision/generate queues a Job and answers at once; the page follows it as
server-sent events (`Job.events`) and may cancel it. Jobs run on their own threads
(`workers`), never the lab's photo workers, so a long generation holds up no photo. At most
`queue_size` wait (503 for one more) and a client has at most one queued or running (429
for a second): one student cannot fill the queue. Finished jobs are kept `keep_s` seconds,
for a page that reconnects, then forgotten.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import secrets
import threading
import time
from typing import Callable, Iterator

from flask_babel import lazy_gettext as _

from game.model.cpus import unpin_thread
from game.vision import VisionError

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class Cancelled(Exception):
    """Raised by a job's progress callback once the job is cancelled: the model stops at its next step."""


class Job:
    def __init__(self, client: str, model: str, steps: int):
        self.id = secrets.token_urlsafe(12)
        self.client, self.model, self.steps = client, model, steps
        self.state, self.step, self.position = QUEUED, 0, 0
        self.result: dict | None = None
        self.error: VisionError | None = None
        self.finished_at = 0.0
        self.changed = threading.Condition()

    def progress(self, step: int) -> None:
        """The model's callback after each step; raises Cancelled to stop it."""
        with self.changed:
            if self.state == CANCELLED:
                raise Cancelled
            self.step = step
            self.changed.notify_all()

    def finish(self, state: str, result: dict | None = None, error: VisionError | None = None) -> None:
        with self.changed:
            if self.state in FINISHED:
                return
            self.state, self.result, self.error, self.finished_at = state, result, error, time.monotonic()
            self.changed.notify_all()

    def snapshot(self) -> dict:
        return {"state": self.state, "step": self.step, "steps": self.steps, "position": self.position}

    def events(self, heartbeat: float = 15.0) -> Iterator[str]:
        """The job as server-sent events: `progress` ({state, step, steps, position: jobs
        ahead in the queue}) on each change, then one of `done` (the result), `failed` or
        `cancelled` ({error}); a comment every `heartbeat` seconds keeps proxies from closing
        a stream that waits in the queue."""
        last = None
        while True:
            with self.changed:
                if self.snapshot() == last and self.state not in FINISHED:
                    self.changed.wait(heartbeat)
                now = self.snapshot()
            if now["state"] in FINISHED:
                break
            if now == last:
                yield ": waiting\n\n"
                continue
            last = now
            yield sse("progress", now)
        if self.state == DONE:
            yield sse("done", {**self.snapshot(), **self.result})
        else:
            yield sse(self.state, {**self.snapshot(), "error": str(self.error.message) if self.error else None})


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Generations:
    """The jobs: `submit` queues one for `run(job)` (which returns the result and calls
    `job.progress` after each step), `get` finds one, `cancel` stops one."""

    def __init__(self, run: Callable[[Job], dict], workers: int, queue_size: int, keep_s: float = 600.0):
        self.run = run
        self.queue_size, self.keep_s = queue_size, keep_s
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="vision-generate",
                                                              initializer=unpin_thread)

    def close(self) -> None:
        with self._lock:
            for job in self.jobs.values():
                job.finish(CANCELLED)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, client: str, model: str, steps: int) -> Job:
        with self._lock:
            now = time.monotonic()
            self.jobs = {k: j for k, j in self.jobs.items()
                         if j.state not in FINISHED or now - j.finished_at < self.keep_s}
            active = [j for j in self.jobs.values() if j.state not in FINISHED]
            if any(j.client == client for j in active):
                raise VisionError(429, _("you already have an image being generated: wait for it, or cancel it, "
                                         "before starting another"))
            if sum(j.state == QUEUED for j in active) >= self.queue_size:
                raise VisionError(503, _("the server is busy generating other students' images (%(n)s waiting): "
                                         "try again in a few minutes", n=self.queue_size))
            job = Job(client, model, steps)
            self.jobs[job.id] = job
            self._positions()
        self.executor.submit(self._work, job)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise VisionError(404, _("no such generation: it finished more than %(minutes)s minutes ago, or "
                                     "never was", minutes=f"{self.keep_s / 60:g}"))
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.finish(CANCELLED)
        with self._lock:
            self._positions()
        return job

    def _positions(self) -> None:
        """Each queued job's place: how many queued before it (the jobs dict keeps their order)."""
        ahead = 0
        for job in self.jobs.values():
            if job.state == QUEUED:
                with job.changed:
                    job.position = ahead
                    job.changed.notify_all()
                ahead += 1

    def _work(self, job: Job) -> None:
        with job.changed:
            if job.state != QUEUED:  # cancelled while it waited
                return
            job.state, job.position = RUNNING, 0
            job.changed.notify_all()
        with self._lock:
            self._positions()
        try:
            job.finish(DONE, self.run(job))
        except Cancelled:
            job.finish(CANCELLED)
        except VisionError as e:
            job.finish(FAILED, error=e)
        except Exception as e:  # the model failed: the log has the details, the page a message
            log.exception("generation with %s failed", job.model)
            job.finish(FAILED, error=VisionError(500, _("the model %(model)s failed (%(error)s); the server's log "
                                                        "has the details", model=job.model, error=type(e).__name__)))
