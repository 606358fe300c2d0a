"""Tests: real PostgreSQL (DATABASE_URL), real broker (CELERY_BROKER_URL) when given."""

import os
import uuid

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from .base import *  # noqa: F403

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test run consumes its own queue, so a portal running on the same broker never steals
# (or is handed) the suite's messages.
CELERY_TASK_DEFAULT_QUEUE = f"test-{uuid.uuid4().hex[:12]}"

# Static files straight from the apps' folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The fake WeCom server and test receivers listen on 127.0.0.1; tests of the SSRF refusal turn
# this off (settings fixture).
EGRESS_ALLOW_PRIVATE_HOSTS = True

# The logging SMS provider's callbacks (tests/campaigns/test_sms_replies.py) are signed with this.
SMS_CALLBACK_SECRET = "test-sms-callback-secret"  # noqa: S105 - tests only
