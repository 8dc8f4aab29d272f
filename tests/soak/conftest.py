"""The soak tests start real Celery workers the way tests/test_workers_celery.py does."""

from __future__ import annotations

from tests.test_workers_celery import workers  # noqa: F401  (a fixture, shared)
