"""Production settings refuse insecure configurations; they are checked in a fresh interpreter
because settings are read from the environment at import time."""

import os
import subprocess
import sys

import pytest

SAFE_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    # What `secrets.token_urlsafe(50)` gives: 67 characters.
    "SECRET_KEY": "kT3vJ9x_QpL2mW8sYb4nR6cE1aZ0hG5uF7dXoV-iNwBqHrMyPtSlUeKjCzAgDf2sQ1x",
    "ALLOWED_HOSTS": "portal.example,.portal.example",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "DEBUG": "",
}
# Variables that would change what the production settings decide; the tests set them or not.
PROD_VARIABLES = {*SAFE_ENV, "SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD", "SECURE_SSL_REDIRECT"}


def run_with_prod_settings(args: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in PROD_VARIABLES}
    env.update({**SAFE_ENV, **overrides, "DJANGO_SETTINGS_MODULE": "crm.settings.prod"})
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False)


def import_prod_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    return run_with_prod_settings(["-c", "import crm.settings.prod as s; print(s.ALLOWED_HOSTS, s.DEBUG)"], **overrides)


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
        # Django's rules for a strong key (security.W009): 50 characters, 5 different, no insecure prefix.
        ({"SECRET_KEY": "a-long-random-production-secret"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "django-insecure-" + SAFE_ENV["SECRET_KEY"]}, "SECRET_KEY is too weak"),
        # The filesystem broker serves one development machine.
        ({"CELERY_BROKER_URL": ""}, "CELERY_BROKER_URL must name the broker"),
    ],
)
def test_prod_refuses_insecure_settings(overrides, complaint):
    result = import_prod_settings(**overrides)
    assert result.returncode != 0
    assert complaint in result.stderr
    if overrides.get("SECRET_KEY"):
        assert overrides["SECRET_KEY"] not in result.stderr  # a refusal never prints the key


def test_check_deploy_has_nothing_to_say_about_prod():
    result = run_with_prod_settings(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_prod_sends_hsts_for_every_brand_subdomain_and_redirects_to_https_except_healthz():
    script = (
        "import crm.settings.prod as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_REDIRECT_EXEMPT)"
    )
    default = run_with_prod_settings(["-c", script])
    tuned = run_with_prod_settings(["-c", script], SECURE_HSTS_SECONDS="300")

    assert default.stdout.split() == ["31536000", "True", "True", "['^healthz$']"], default.stderr
    assert tuned.stdout.split()[0] == "300", tuned.stderr


@pytest.mark.django_db
def test_the_csrf_check_silenced_in_prod_is_done_by_the_middleware_in_place():
    # prod silences security.W003, which looks for Django's CsrfViewMiddleware by its name: the
    # middleware in its place must be that class, and refuse a browser form posted without a token.
    from django.conf import settings
    from django.middleware.csrf import CsrfViewMiddleware
    from django.test import Client
    from django.utils.module_loading import import_string

    from tests.conftest import BRAND_A, brand_host

    csrf = [path for path in settings.MIDDLEWARE if issubclass(import_string(path), CsrfViewMiddleware)]
    client = Client(HTTP_HOST=brand_host(BRAND_A), enforce_csrf_checks=True)

    assert csrf == ["crm.browser_middleware.CsrfViewMiddleware"]
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 403


def test_language_time_zone_and_static_defaults():
    from django.conf import settings

    assert settings.LANGUAGE_CODE == "zh-hans"
    assert settings.TIME_ZONE == "Asia/Shanghai" and settings.USE_TZ is True
    assert "crm.browser_middleware.LocaleMiddleware" in settings.MIDDLEWARE  # Chinese pages, API's choice
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
