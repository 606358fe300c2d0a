"""The WSGI application the web server serves (granian: Procfile, docs/deploy.md)."""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

# A server started without DJANGO_SETTINGS_MODULE is production's (DEBUG off, no default key);
# dev.py, the tests and the benchmarks name their settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.prod")

# What a server sets for a request (CGI / PEP 3333), besides its headers (HTTP_*) and wsgi.*.
REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "GATEWAY_INTERFACE",
        "SERVER_SOFTWARE",
    }
)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WithoutProcessEnvironment:
    """granian starts every request's environ from a copy of the process environment, as CGI did:
    DATABASE_URL, CACHE_URL, SECRET_KEY… would sit in `request.META`, where an error report or a
    debug page shows what it holds. They are dropped before Django sees the request — the keys the
    process environment has when the first request arrives (the server copied it by then), but
    never what the server sets for the request itself or a header."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.keys: tuple[str, ...] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.keys is None:
            self.keys = tuple(
                key for key in os.environ if key not in REQUEST_KEYS and not key.startswith(("HTTP_", "wsgi."))
            )
        for key in self.keys:
            environ.pop(key, None)
        return self.app(environ, start_response)


application = WithoutProcessEnvironment(get_wsgi_application())
