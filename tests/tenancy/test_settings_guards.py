"""Production settings refuse insecure configurations; they are checked in a fresh interpreter
because settings are read from the environment at import time."""

import os
import subprocess
import sys

import pytest

SAFE_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "SECRET_KEY": "a-long-random-production-secret",
    "ALLOWED_HOSTS": "portal.example,.portal.example",
    "DEBUG": "",
}


def import_prod_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SAFE_ENV}
    env.update({**SAFE_ENV, **overrides})
    return subprocess.run(
        [sys.executable, "-c", "import crm.settings.prod as s; print(s.ALLOWED_HOSTS, s.DEBUG)"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_prod_starts_with_a_secret_and_named_hosts():
    result = import_prod_settings()
    assert result.returncode == 0, result.stderr
    assert "['portal.example', '.portal.example'] False" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must list"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    ],
)
def test_prod_refuses_insecure_settings(overrides, complaint):
    result = import_prod_settings(**overrides)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_language_time_zone_and_static_defaults():
    from django.conf import settings

    assert settings.LANGUAGE_CODE == "zh-hans"
    assert settings.TIME_ZONE == "Asia/Shanghai" and settings.USE_TZ is True
    assert "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
