"""Requests and pages: the middleware, templates, static files and the back office's theme."""

from .environment import BASE_DIR

MIDDLEWARE = [
    "crm.tenancy.middleware.BrandHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every browser page (security.py says which policy).
    "crm.browser_middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's own, skipped under /api/ (crm/browser_middleware.py says why).
    "crm.browser_middleware.SessionMiddleware",
    # Chinese for the browser pages whatever the browser asks; the partner API negotiates.
    "crm.browser_middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "crm.browser_middleware.CsrfViewMiddleware",
    "crm.browser_middleware.AuthenticationMiddleware",
    "crm.browser_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires. It only turns a refused login into the lockout page: under
    # /api/ nothing logs in (API keys are not logins), so partner calls pass through untouched.
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The back office's theme (django-unfold) restyles django.contrib.admin (sidebar, tabs, filters,
# dashboard components) and ships its fonts, icons and scripts as static files: nothing comes from
# a CDN. The brand and platform sites subclass its UnfoldAdminSite (crm/admin_sites.py); every
# ModelAdmin subclasses unfold.admin.ModelAdmin. Its pages need a looser policy than the rest
# (crm/browser_middleware.py).
UNFOLD = {
    "SITE_TITLE": "会员运营后台",
    "SITE_HEADER": "会员运营后台",
    "SITE_SYMBOL": "loyalty",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
    },
}
