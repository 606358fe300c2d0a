"""The API's URL patterns tried by first segment (crm/api/routing.py) answer every path as the plain
list did: the same view, arguments and route, the same 404s, the same routes for reverse() and the
OpenAPI schema."""

import re

import pytest
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern
from drf_spectacular.generators import EndpointEnumerator

from crm import urls_brand
from crm.api.routing import ApiResolver

SAMPLES = {
    "str": "M10000001",
    "int": "7",
    "slug": "a-b",
    "uuid": "12345678-1234-5678-1234-567812345678",
    "path": "a/b",
}
OTHER_PATHS = [
    "",
    "api",
    "api/",
    "apix/v1/tiers",
    "api/v1",
    "api/v1/",
    "api/v1/nope",
    "api/v1/tiers/",
    "api/v1/tiersx",
    "api/v1/members",
    "api/v1/members/",
    "api/v1/members/M1/nope",
    "api/v2/tiers",
    "api/schema/",
    "api/docs/",
    "api/redoc/",
    "healthz",
    "admin/",
    "admin/workbench/",
    "m/",
    "s/123",
]


def api_resolver() -> ApiResolver:
    (found,) = [p for p in urls_brand.urlpatterns if isinstance(p, ApiResolver)]
    return found


def plain_patterns() -> list[URLPattern | URLResolver]:
    """The brand's URLs as before: the API's patterns one after the other, after the admin's."""
    others: list[URLPattern | URLResolver] = [p for p in urls_brand.urlpatterns if not isinstance(p, ApiResolver)]
    (admin,) = [i for i, p in enumerate(others) if str(p.pattern) == "admin/"]
    return [*others[: admin + 1], path("", include(list(api_resolver().all_patterns))), *others[admin + 1 :]]


def sample_paths() -> list[str]:
    paths = list(OTHER_PATHS)
    for pattern in api_resolver().all_patterns:
        route = str(pattern.pattern)
        if isinstance(pattern.pattern, RegexPattern):
            continue
        sample = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)
        paths += [sample, sample + "/", sample + "x"]
    return paths


def answer(resolver: URLResolver, url: str) -> object:
    try:
        match = resolver.resolve(url)
    except Resolver404:
        return "404"
    return (match.func, match.url_name, match.args, match.kwargs, match.route, match.app_names)


@pytest.mark.parametrize("url", sample_paths())
def test_every_path_resolves_as_the_plain_list_did(url):
    grouped = URLResolver(RegexPattern(r"^/"), urls_brand.urlpatterns)
    plain = URLResolver(RegexPattern(r"^/"), plain_patterns())
    assert answer(grouped, "/" + url) == answer(plain, "/" + url)


def test_each_endpoint_is_tried_only_with_its_own_segment_and_the_rest():
    resolver = api_resolver()
    claims = resolver.candidates["scancodes"]
    assert [str(p.pattern) for p in claims[:2]] == ["api/v1/scancodes/verify", "api/v1/scancodes/claims"]
    assert claims[2:] == resolver.rest
    assert str(resolver.rest[-1].pattern) == "^api/v1/"  # the problem+json 404 still comes last
    assert len(resolver.all_patterns) > len(claims) + 30


def test_reverse_and_the_schema_see_the_same_routes():
    assert reverse("api-member-checkins", kwargs={"member_no": "M1"}) == "/api/v1/members/M1/checkins"
    assert reverse("api-scancodes-claims") == "/api/v1/scancodes/claims"
    assert reverse("api-schema") == "/api/schema/"
    grouped = EndpointEnumerator(patterns=urls_brand.urlpatterns).get_api_endpoints()
    plain = EndpointEnumerator(patterns=plain_patterns()).get_api_endpoints()
    assert [(p, m) for p, _r, m, _c in grouped] == [(p, m) for p, _r, m, _c in plain]
    assert len(grouped) > 40


def test_a_path_being_resolved_does_not_leak_its_candidates():
    resolver = api_resolver()
    assert resolver.url_patterns == resolver.all_patterns
    resolver.resolve("api/v1/tiers")
    assert resolver.url_patterns == resolver.all_patterns


def test_a_pattern_without_a_literal_segment_keeps_those_after_it_in_their_order():
    def view(request):  # pragma: no cover - never called
        raise AssertionError

    first = path("api/v1/<str:kind>/items", view, name="any-items")
    later = path("api/v1/orders/items", view, name="order-items")
    resolver = ApiResolver([path("api/v1/tiers", view, name="tiers"), first, later])
    assert resolver.resolve("api/v1/orders/items").url_name == "any-items"  # as in the plain list
    assert resolver.resolve("api/v1/tiers").url_name == "tiers"
    assert "orders" not in resolver.candidates
