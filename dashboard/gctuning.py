"""The garbage collector of a long-lived web process (issue 22: the p95 of the large pages was
twice their p50).

A page of 500 rows allocates hundreds of thousands of objects, some in reference cycles (a model
and its prefetched relations): with Python's default thresholds (700, 10, 10) a full collection
ran on every second overview request, and each walked the ~140,000 objects that Django and the
apps load at start and keep for the process's life: ~200 ms of CPU on a busy 2-CPU machine.
Measured on the benchmark's 500 accounts (bench/pages.py; 20 requests per page in one process,
load ~1.8), CPU p50 / p95 in ms, and the full collections during the 20 overview requests:

    page            default thresholds   frozen          frozen, THRESHOLDS
    overview        507 / 713            520 / 631       476 / 555
    API accounts    312 / 601            350 / 483       341 / 400
    keys            235 / 394            303 / 330       255 / 299
    full GCs        9, 208 ms each       9, 49 ms each   none

tune() moves what is loaded out of the collector's way (gc.freeze) and collects less often, so a
full collection walks only what the requests left, and comes every few dozen requests instead of
every other one.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 20)


def tune() -> None:
    """For a web worker once it has loaded the project (dashboard/wsgi.py)."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
