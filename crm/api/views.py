"""`BrandApiView`: the one base class of every partner API endpoint.

It owns, in this order, for every request:
1. brand scoping — the request must be on a brand host and the connection in that brand's
   schema (django-tenants put it there from the host); API keys, idempotency records and all
   data are then the brand's own, so there is no queryset to forget to filter;
2. method check (405 before anything else), body size cap (413, before the body is read);
3. authentication (`Authorization: Api-Key <key>` of this brand), scope per method (403),
   rate limit per key (429 + Retry-After);
4. the transaction of every write, and Idempotency-Key handling for POST (see idempotency.py).

Endpoints subclass it and fill in the hooks:
    class OrderCreateApi(BrandApiView):
        required_scopes = {"POST": Scope.ORDERS_WRITE}
        max_body_bytes = 64 * 1024           # optional, else settings.API_MAX_BODY_BYTES
        throttle_rate = "300/min"            # optional, else settings.API_THROTTLE_RATE

        def post(self, request):
            data = self.validated_data(OrderInSerializer)
            order = order_post(**data, partner=self.partner.name)
            return Response(OrderOutSerializer(order).data, status=201)
"""

import threading
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any, ClassVar, TypeVar, cast

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponseBase, UnreadablePostError
from django.utils import translation
from django_tenants.utils import get_public_schema_name
from rest_framework import exceptions, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings as drf_settings
from rest_framework.views import APIView

from crm.db import connection

from .authentication import ApiKeyAuthentication, request_api_key
from .compiled_input import Defer, compile_input
from .error_codes import api_error, body_too_large, field_message
from .idempotency import (
    HEADER,
    idempotency_fingerprint,
    idempotency_key_valid,
    idempotency_record_get,
    idempotency_record_store,
    idempotency_replay,
    idempotency_try_lock,
)
from .models import ApiKey, IdempotencyRecord, Partner
from .parsers import DepthLimitedJSONParser
from .permissions import HasRequiredScope
from .remembered_keys import api_request_scope
from .throttling import ApiKeyRateThrottle

T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD"})

_per_thread = threading.local()


def _thread_one(kind: str, serializer_class: type[serializers.Serializer], build: Callable[[], T]) -> T:
    """The thread's one `kind` object for `serializer_class` in the active language, built on first
    use. Per language because a serializer's fields keep some of their error messages in the
    language of the first time they are shown: DRF formats the length and value bounds' messages
    (`lazy_format`) once and keeps the text, so one instance for all would answer an English
    request with the Chinese it first said."""
    by_class = _per_thread.__dict__.setdefault(kind, {})
    key = (serializer_class, translation.get_language())
    found = by_class.get(key)
    if found is None:
        found = by_class[key] = build()
    return found


def _shared(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return _thread_one("serializer", serializer_class, serializer_class)


class InputValidator:
    """`run_validation(data)` of an input serializer: by its compiled fast path when the input is
    already canonical (crm/api/compiled_input.py), else by DRF, which words any error."""

    def __init__(self, serializer: serializers.Serializer) -> None:
        self.serializer = serializer
        self.fast = compile_input(serializer)

    def run_validation(self, data: Any) -> Any:
        if self.fast is not None:
            try:
                return self.fast(data)
            except Defer:
                pass
        return self.serializer.run_validation(data)


def input_validator(serializer_class: type[serializers.Serializer]) -> InputValidator:
    """One validator per input serializer class and thread (as DRF's ListSerializer validates every
    item with its one child): building a serializer deep-copies its declared fields, nested
    serializers' too, which cost ~0.5 ms of CPU per request — a fifth of a single order's ingest.
    The input serializers keep no state between validations (no context, no instance; `validate`
    methods only return)."""
    return _thread_one("validator", serializer_class, lambda: InputValidator(_shared(serializer_class)))


def represent(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """`serializer_class(instance).data`, by the thread's one instance of a context-free output
    serializer (see input_validator)."""
    return dict(_shared(serializer_class).to_representation(instance))


def validation_errors(detail: Any) -> Any:
    """What `serializer.errors` would say after `is_valid()` for a `run_validation` error (DRF
    words a null body its own way)."""
    if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
        return {drf_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]}
    return detail


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def raw_body(request: HttpRequest) -> bytes:
    """`request.body` without Django's DATA_UPLOAD_MAX_MEMORY_SIZE check. Only for a body the API's
    own limit has already bounded by its Content-Length (BrandApiView.check_body_size; the WSGI
    stream reads no further than that). Done as Django's `body` does it: keep the bytes, give
    later readers a fresh stream over them."""
    if not hasattr(request, "_body") and not request._read_started:  # type: ignore[attr-defined]
        try:
            body = request.read()
        except OSError as exc:
            raise UnreadablePostError(*exc.args) from exc
        finally:
            request._stream.close()
        request._body = body
        request._stream = BytesIO(body)
    return request.body


class JsonNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, answered without parsing for the Accept headers partners send (none,
    `*/*`, `application/json`) when JSON is the only renderer: parsing them into media types was
    ~2 % of a single-order request. Any other header (or `?format=`) is negotiated as before.
    (A missing header means `*/*`; an empty one is DRF's 406.)"""

    PLAIN_ACCEPTS = frozenset({"*/*", "application/json"})

    def select_renderer(  # type: ignore[override]  # DRF passes a list; the stub says Iterable
        self, request: Request, renderers: Sequence[Any], format_suffix: str | None = None
    ) -> Any:
        if (
            len(renderers) == 1
            and renderers[0].media_type == "application/json"
            and format_suffix is None
            and request.META.get("HTTP_ACCEPT", "*/*") in self.PLAIN_ACCEPTS
            and not request.META.get("QUERY_STRING")
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class BrandApiView(APIView):
    content_negotiation_class = JsonNegotiation
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated, HasRequiredScope]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [DepthLimitedJSONParser]
    renderer_classes = [JSONRenderer]
    # No OPTIONS: the OpenAPI schema documents the API; fewer methods, less surface.
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]

    # --- hooks for endpoints ---------------------------------------------------------------------
    # HTTP method -> scope the key needs. A method that is not listed is refused (403).
    required_scopes: ClassVar[dict[str, str]] = {}
    # Largest accepted request body in bytes; None means settings.API_MAX_BODY_BYTES.
    max_body_bytes: ClassVar[int | None] = None
    # Largest accepted batch (see check_batch).
    max_batch_items: ClassVar[int] = 500
    # e.g. "300/min"; None means settings.API_THROTTLE_RATE.
    throttle_rate: ClassVar[str | None] = None
    # For views at a literal path where a path parameter could also be (`members/lookup` and
    # `members/merge` beside `members/{member_no}`): the methods of that other operation which
    # this view does not handle answer as it documents for an unknown id (401 without a valid
    # key, else 404), not 405 — "merge" is, as far as a client can tell, a member number.
    shadowed_methods: ClassVar[frozenset[str]] = frozenset()
    # A POST that only reads (a dry run that changes nothing: coupons/validate): no transaction of
    # its own, so no BEGIN and COMMIT round trips around its one statement. A POST carrying an
    # Idempotency-Key is still run, and its answer stored, in one transaction (run_idempotent).
    read_only_post: ClassVar[bool] = False
    # A POST whose handler keeps its own transactions: each of its writes is one statement or the
    # service's own atomic block, and a retry after a failure half-way is safe (the check-in, the
    # scan-code claim). No transaction of the view's around it, so a one-statement write can run
    # without BEGIN and COMMIT when no hook handler would write beside it (crm/hooks.py). A POST
    # carrying an Idempotency-Key is still run, and its answer stored, in one transaction.
    own_transaction: ClassVar[bool] = False

    def required_scope(self, method: str) -> str | None:
        if method == "HEAD":
            method = "GET"
        return self.required_scopes.get(method)

    @property
    def api_key(self) -> ApiKey:
        return request_api_key(self.request)

    @property
    def partner(self) -> Partner:
        return self.api_key.partner

    @property
    def actor(self) -> str:
        """Who services record as the actor of a partner's write (audit trails, ledger)."""
        return f"api:{self.partner.name}"

    def validated_query(self, serializer_class: type[serializers.Serializer]) -> Any:
        """The query string validated by `serializer_class` (400 problem with `fields` if not).
        A repeated parameter counts once (its last value), as Django reads it."""
        serializer = serializer_class(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def validated_data(self, serializer_class: type[serializers.Serializer]) -> Any:
        """The request body validated by `serializer_class` (400 problem with `fields` if not)."""
        try:
            return input_validator(serializer_class).run_validation(self.request.data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(validation_errors(exc.detail)) from exc

    def check_batch(self, items: Any, *, limit: int | None = None, field: str = "items") -> Sequence[Any]:
        """`items` must be a non-empty list of at most `limit` (default max_batch_items) entries."""
        limit = limit or self.max_batch_items
        if not isinstance(items, list) or not items:
            raise api_error(
                "invalid_input",
                status=400,
                fields={field: [field_message("必须是非空列表。", "Must be a non-empty list.")]},
            )
        if len(items) > limit:
            raise api_error(
                "batch_too_large",
                status=400,
                fields={field: [field_message(f"最多 {limit} 条。", f"At most {limit} items.")]},
                limit=limit,
            )
        return items

    # --- the plumbing ------------------------------------------------------------------------------
    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with api_request_scope():  # state remembered under the generation the key check reads
            return self._dispatch(request, *args, **kwargs)

    def _dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # APIView.dispatch, with the handler run through run_handler (transaction, idempotency).
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            handler = getattr(self, request.method.lower())
            response = self.run_handler(handler, request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.check_brand(request)
        http_method = cast(str, request.method)  # None only on an HttpRequest built by hand
        method = http_method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            if method in self.shadowed_methods:
                self.perform_authentication(request)
                if request.user is None or not request.user.is_authenticated:
                    raise exceptions.NotAuthenticated()
                raise api_error("not_found", status=404)
            raise exceptions.MethodNotAllowed(http_method)
        self.check_body_size(request)
        super().initial(request, *args, **kwargs)
        self.read_large_body(request)

    def check_brand(self, request: Request) -> None:
        brand = getattr(request._request, "tenant", None)
        if (
            brand is None
            or brand.schema_name == get_public_schema_name()
            or connection.schema_name != brand.schema_name
            or not brand.ready
        ):
            raise Http404

    def check_body_size(self, request: Request) -> None:
        limit = self.max_body_bytes or settings.API_MAX_BODY_BYTES
        if _content_length(request) > limit:
            raise body_too_large(limit)

    def read_large_body(self, request: Request) -> None:
        """Read a body larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) but
        within the API's own limit (a 3 MB order batch), after authentication: DRF reads the body
        through `request.body`, whose check would refuse it with 413 — the API has one body limit,
        the one it documents (check_body_size)."""
        data_upload_max = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if data_upload_max is not None and _content_length(request) > data_upload_max:
            raw_body(request._request)

    def run_handler(self, handler: Callable[..., Any], request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.method in SAFE_METHODS:
            return handler(request, *args, **kwargs)
        if request.method == "POST" and HEADER in request.headers:
            return self.run_idempotent(handler, request, *args, **kwargs)
        if request.method == "POST" and (self.read_only_post or self.own_transaction):
            return handler(request, *args, **kwargs)
        with transaction.atomic():
            return handler(request, *args, **kwargs)

    def replay_is_gone(self, record: IdempotencyRecord) -> bool:
        """Whether what the first request created has been deleted since: a replay then answers
        410 instead of the stored body (a deleted webhook subscription's secret, say)."""
        return False

    def run_idempotent(self, handler: Callable[..., Any], request: Request, *args: Any, **kwargs: Any) -> Any:
        key = request.headers[HEADER]
        if not idempotency_key_valid(key):
            raise api_error(
                "idempotency_key_invalid",
                status=400,
                fields={HEADER: [field_message("格式不正确。", "Invalid format.")]},
            )
        # The raw body, read before DRF parses it (Django keeps it, so parsing still works).
        fingerprint = idempotency_fingerprint(
            method=cast(str, request.method), path=request.get_full_path(), body=request._request.body
        )
        partner = self.partner
        with transaction.atomic():
            if not idempotency_try_lock(partner_id=partner.pk, key=key):
                raise api_error("idempotency_in_progress", status=409)
            record = idempotency_record_get(partner=partner, key=key)
            if record is not None:
                if record.fingerprint != fingerprint:
                    raise api_error("idempotency_key_reused", status=422)
                if self.replay_is_gone(record):
                    raise api_error("idempotency_replay_gone", status=410)
                return idempotency_replay(record)
            response = handler(request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                response = self.finalize_response(request, response, *args, **kwargs)
                response.render()
                idempotency_record_store(partner=partner, key=key, fingerprint=fingerprint, response=response)
            return response
