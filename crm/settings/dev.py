"""Development: `python3 dev.py serve`. Debug on, a fixed insecure key, every *.localhost host."""

import os

os.environ.setdefault("SECRET_KEY", "dev-only-insecure-secret-key-do-not-use-in-production")

from .base import *  # noqa: F403
from .base import env_bool

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = env_bool("DEBUG", True)

# Static files straight from the apps' folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The demo brand's WeCom API is the fake server on 127.0.0.1 (wecom/demo.py), and partners'
# test receivers run on this machine: outbound calls may reach loopback here, never in production.
EGRESS_ALLOW_PRIVATE_HOSTS = env_bool("EGRESS_ALLOW_PRIVATE_HOSTS", True)

# `serve` answers plain HTTP on port 8000: links in messages point there (member centre, issue 25).
MEMBER_LINK_SCHEME = os.environ.get("MEMBER_LINK_SCHEME", "http")
MEMBER_LINK_PORT = os.environ.get("MEMBER_LINK_PORT", "8000")
SMS_CALLBACK_SECRET = os.environ.get("SMS_CALLBACK_SECRET", "dev-sms-callback-secret")
