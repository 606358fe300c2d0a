import os

from django.core.asgi import get_asgi_application

# A server started without DJANGO_SETTINGS_MODULE is production's (DEBUG off, no default key);
# dev.py, the tests and the benchmarks name their settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.prod")
application = get_asgi_application()
