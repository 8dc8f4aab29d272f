"""A web worker's garbage collector (dashboard/gctuning.py): what gunicorn loads with
dashboard/wsgi.py is out of the collector's way, and full collections come seldom."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dashboard import gctuning

ROOT = Path(__file__).resolve().parent.parent


def test_a_web_worker_freezes_what_it_loaded_and_collects_less_often():
    probe = "import gc, dashboard.wsgi; print(*gc.get_threshold(), gc.get_freeze_count())"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    *thresholds, frozen = map(int, shown)
    assert tuple(thresholds) == gctuning.THRESHOLDS
    assert frozen > 50_000  # Django, the apps and their modules
