from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from dashboard import gctuning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
application = get_wsgi_application()
gctuning.tune()  # the p95 of the large pages was twice their p50: see dashboard/gctuning.py
