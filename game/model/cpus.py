"""Where the server's threads and the model's process run: one CPU for the server's threads
(they share one interpreter lock), the others for the model's process."""
from __future__ import annotations

import os

CPU_AFFINITIES = ("auto", "off")
_all_cpus: set[int] | None = None  # what this process could use before share_cpus pinned it


def share_cpus(affinity: str) -> set[int] | None:
    """With `affinity` "auto" and two or more CPUs to run on (Linux), pin every thread of
    this process to the first of them and return the others, for the model's process.
    None, and nothing changed, with "off" or a single CPU.

    The server's threads share one interpreter lock, so they never use more than a core at
    once; left to roam both cores of the 2-core machine, a contribution from 20 clients cost
    1.9-2.0 ms of CPU in the server's process instead of 1.2-1.3 and 1.5-1.6 in the model's
    instead of 1.2 (threads handing the lock across cores), and they got 390-520 a second
    instead of 580-760 (benchmarks/contributions.py). Threads that compute outside the lock
    take the CPUs back with unpin_thread."""
    global _all_cpus
    if affinity != "auto" or not hasattr(os, "sched_setaffinity"):
        return None
    if _all_cpus is None:
        _all_cpus = set(os.sched_getaffinity(0))
    if len(_all_cpus) < 2:
        return None
    server = {min(_all_cpus)}
    # Threads started from now on inherit their creator's CPUs; those running now are set one by one.
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), server)
        except ProcessLookupError:
            pass  # it ended meanwhile
    return _all_cpus - server


def unpin_thread() -> None:
    """Give the calling thread every CPU share_cpus took from it: for threads whose work runs
    outside the interpreter lock (the vision lab's models, torch on every core)."""
    if _all_cpus is not None:
        os.sched_setaffinity(0, _all_cpus)
