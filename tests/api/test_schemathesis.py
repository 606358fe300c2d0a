"""Schemathesis against the served OpenAPI schema, on both test brands: every operation gets
generated requests (valid and invalid) with a valid key; no response may be a 5xx, and every
response must conform to the schema (status code, content type, body)."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import agreements_ensure, make_key
from tests.conftest import BRAND_A, BRAND_B, brand_host

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(params=[BRAND_A, BRAND_B])
def brand(request, db) -> str:
    return str(request.param)


@pytest.fixture
def served_schema(brand: str, _webhooks_to_local_receivers: Any) -> Iterator[Any]:
    """The schema exactly as the brand's host serves it, calling the real WSGI app in-process.

    Like Django's test client, keep the request signals from closing the test's database
    connection (it holds the transaction every generated request runs in)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/api/schema/?format=json", get_wsgi_application(), headers={"Host": brand_host(brand)}
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_and_never_fails(served_schema, brand, mode):
    """Valid and invalid generated requests for every operation. (schemathesis' own pytest
    integration does not run on pytest 9, so the operations are driven here with Hypothesis.)"""
    agreements_ensure(brand)  # so enrolment and consent calls can find real version ids
    headers = {"Host": brand_host(brand), "Authorization": f"Api-Key {make_key(brand)}"}
    checked = []
    for operation in operations(served_schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call_it(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        call_it()
        checked.append(operation.label)
    assert len(checked) >= 20, checked  # every documented operation was exercised
