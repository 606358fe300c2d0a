"""The partner API's URL patterns, tried only where they can match.

Django resolves a path by trying the patterns in order, each a regular expression. The API's ~45
endpoints came after the workbench's and the admin's, app by app, so a claim
(`/api/v1/scancodes/claims`) was tried against ~70 patterns before its own: 80–130 µs of a
request's ~1.5 ms of Python on this machine under load (bench/README.md, session 17), paid on
every partner call.

`api_urlpatterns(*modules)` puts the apps' API patterns under one `api/` prefix (a browser page's
path passes them with one string comparison; nothing outside can match a path under `api/`, so the
brand's URLs put it first) and tries a path only against its candidates: the patterns whose literal
first segment after `api/v1/` (`members`, `tiers`, `scancodes`, …) is the path's, then the rest in
their original order. Which pattern answers a path does not change: a pattern with a literal first
segment can only match paths with that segment, so of the patterns before the first one without
(a converter there, or a regular expression such as the problem+json 404 for any other /api/v1/
path) only the path's own could ever answer; from that first one on, all keep their order. Reverse
(`reverse("api-…")`), the URL checks and the OpenAPI schema see every pattern in its original
order, as before.
"""

import re
from contextvars import ContextVar
from importlib import import_module
from typing import Any

from django.urls import URLPattern, URLResolver
from django.urls.resolvers import RoutePattern

API = "api/"
V1 = "api/v1/"


class PathPrefix:
    """A URL pattern that matches a path beginning with `prefix` and consumes none of it, so the
    patterns under it still match the whole path. Written as Django's LocalePrefixPattern is:
    `regex` serves reverse() only."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.converters: dict[str, Any] = {}

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile("")  # adds nothing to a reversed URL

    def match(self, path: str) -> tuple[str, tuple[()], dict[str, Any]] | None:
        if path.startswith(self.prefix):
            return path, (), {}
        return None

    def check(self) -> list[Any]:
        return []

    def describe(self) -> str:
        return f"'{self.prefix}…'"

    def __str__(self) -> str:
        return ""  # the schema generator joins a prefix's text with its patterns' routes


def literal_segment(pattern: URLPattern | URLResolver) -> str | None:
    """The first segment after `api/v1/` of a path() route when it is plain text, else None."""
    if not isinstance(pattern.pattern, RoutePattern):
        return None
    route = str(pattern.pattern)
    if not route.startswith(V1):
        return None
    segment = route[len(V1) :].split("/", 1)[0]
    return segment if segment and "<" not in segment else None


class ApiResolver(URLResolver):
    """The API's patterns under the `api/` prefix. While it resolves a path, its `url_patterns`
    are that path's candidates (module docstring); at any other time (reverse(), the URL checks,
    the schema generator) all of them in their original order."""

    def __init__(self, patterns: list[URLPattern | URLResolver]) -> None:
        super().__init__(PathPrefix(API), patterns)  # type: ignore[arg-type]  # a pattern by duck typing
        self.all_patterns = patterns
        by_segment: dict[str, list[URLPattern | URLResolver]] = {}
        rest: list[URLPattern | URLResolver] = []
        for pattern in patterns:
            segment = literal_segment(pattern) if not rest else None
            if segment is None:
                rest.append(pattern)
            else:
                by_segment.setdefault(segment, []).append(pattern)
        self.rest = rest
        self.candidates = {segment: [*members, *rest] for segment, members in by_segment.items()}

    @property  # Django's is a cached_property: here it depends on the path being resolved
    def url_patterns(self) -> list[URLPattern | URLResolver]:
        path = _resolving.get()
        if path is None:
            return self.all_patterns
        if not path.startswith(V1):
            return self.rest
        return self.candidates.get(path[len(V1) :].split("/", 1)[0], self.rest)

    def resolve(self, path: Any) -> Any:
        entered = _resolving.set(str(path))
        try:
            return super().resolve(path)
        finally:
            _resolving.reset(entered)


# The path the API resolver is resolving, in this thread (or task).
_resolving: ContextVar[str | None] = ContextVar("api_path_resolving", default=None)


def api_urlpatterns(*modules: str) -> ApiResolver:
    """The `urlpatterns` of `modules`, in that order, under one `api/` prefix, each path tried
    against its candidates only (module docstring)."""
    patterns: list[URLPattern | URLResolver] = []
    for module in modules:
        patterns.extend(import_module(module).urlpatterns)
    return ApiResolver(patterns)
