"""Tests: real PostgreSQL (DATABASE_URL), real broker (CELERY_BROKER_URL) when given."""

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from .base import *  # noqa: F403

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test run consumes its own queues (interactive and bulk), so a portal running on the same
# broker never steals (or is handed) the suite's messages.
CELERY_TASK_DEFAULT_QUEUE = f"test-{uuid.uuid4().hex[:12]}"
CELERY_BULK_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-bulk"
CELERY_TASK_ROUTES = bulk_routes(CELERY_BULK_QUEUE)  # noqa: F405

# pytest-xdist runs the suite in several processes (dev.py test). Each has its own database
# (pytest-django suffixes its name) and consumes its own queue (above); a Redis cache gets its own
# numbered database per worker, because the suite clears its cache (FLUSHDB) and counts lockouts and
# rate windows in it, and brands of the same name in two workers' databases would share keys.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker and CACHE_URL.startswith("redis"):  # noqa: F405
    # redis://host:port/1 → gw0 on /2, gw1 on /3, … (Redis has 16 numbered databases).
    _cache_url = urlsplit(CACHE_URL)  # noqa: F405
    _database = (int(_cache_url.path.strip("/") or 0) + 1 + int(_xdist_worker.removeprefix("gw"))) % 16
    CACHES = {"default": cache_config(urlunsplit(_cache_url._replace(path=f"/{_database}")))}  # noqa: F405

# Static files straight from the apps' folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The fake WeCom server and test receivers listen on 127.0.0.1; tests of the SSRF refusal turn
# this off (settings fixture).
EGRESS_ALLOW_PRIVATE_HOSTS = True

# The logging SMS provider's callbacks (tests/campaigns/test_sms_replies.py) are signed with this.
SMS_CALLBACK_SECRET = "test-sms-callback-secret"  # noqa: S105 - tests only
