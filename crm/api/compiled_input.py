"""Partner input that is already in its canonical form, validated without DRF's per-field machinery.

Why: DRF validates an order item in ~100–170 µs of CPU (field objects, `empty`/`SkipField`
handling, a validator loop per field, nested serializers): 50–85 ms for a batch of 500, about half
of the batch endpoint's Python, and a few per cent of a single order. Compiled: ~13 µs.

How: `compile_input(serializer)` reads the serializer's declared fields once and builds a plain
function that accepts a value only when every part of it is exactly what DRF would accept *and*
would return unchanged (or convert as DRF does: datetimes to the active time zone). Anything else
— a number sent as a string, a string that needs trimming, a value out of range, a missing
required key, an unknown one — is not judged here: the function raises `Defer`, and the caller
validates the same input with DRF, which accepts or words the error as before. So the serializer
stays the one definition (of the rules, the errors and the OpenAPI schema), and the fast path only
ever says yes where DRF says yes, with an equal result: tests/api/test_compiled_input.py checks
that with Hypothesis against DRF for every input serializer of the API that compiles.

Only what is listed here is understood; a serializer with anything else (another field class, a
custom validator, serializer-level validators, a `source`, `partial`) gets no fast path
(`compile_input` returns None) rather than a guess.
"""

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from rest_framework import ISO_8601, fields, serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from .serializers import StrictSerializer

Convert = Callable[[Any], Any]


class Defer(Exception):
    """Not judged by the fast path: validate with DRF (which also words the error)."""


class _Unsupported(Exception):
    """Something compile_input does not understand: no fast path for this serializer."""


_SURROGATE = re.compile("[\ud800-\udfff]")
# DRF turns an int into a string and back (`int(str(value))`), which Python refuses beyond 4,300
# digits; bounds the fast path keeps well inside.
_INT_GUARD = 10**18


def compile_input(serializer: serializers.Serializer) -> Convert | None:
    """A function equal to `serializer.run_validation` on the inputs it accepts, raising `Defer` on
    every other input; None when the serializer uses something this module does not know."""
    try:
        return _serializer(serializer)
    except _Unsupported:
        return None


class _Validation(threading.local):
    zone: Any = None  # None outside validation_scope(): the active zone is read per datetime


_UNREAD = object()
_validation = _Validation()


@contextlib.contextmanager
def validation_scope() -> Iterator[None]:
    """Validations inside read the active time zone once, not once per datetime as DRF does:
    asgiref's context-local lookup costs ~5 µs, a tenth of a batch's validation, and nothing a
    validation runs activates another zone. (Nested scopes keep the outer one's reading.)"""
    if _validation.zone is not None:
        yield
        return
    _validation.zone = _UNREAD
    try:
        yield
    finally:
        _validation.zone = None


def _serializer(serializer: serializers.Serializer) -> Convert:
    cls = type(serializer)
    if (
        cls.run_validation is not serializers.Serializer.run_validation
        or cls.to_internal_value not in (serializers.Serializer.to_internal_value, StrictSerializer.to_internal_value)
        or cls.get_value is not serializers.Serializer.get_value
        or list(serializer.validators)
        or getattr(serializer, "partial", False)
    ):
        raise _Unsupported(cls)
    strict = cls.to_internal_value is StrictSerializer.to_internal_value
    validate = serializer.validate if cls.validate is not serializers.Serializer.validate else None
    entries = []
    for name, field in serializer.fields.items():
        if field.read_only:
            continue  # not read by DRF either; a strict serializer defers when one is posted
        if field.source_attrs != [name]:
            raise _Unsupported(f"{cls.__name__}.{name}: source")
        default = field.default
        if getattr(default, "requires_context", False):
            raise _Unsupported(f"{cls.__name__}.{name}: default with context")
        entries.append((name, _field(field), getattr(serializer, "validate_" + name, None), field.required, default))
    writable = frozenset(name for name, *_ in entries)

    def convert(data: Any) -> dict[str, Any]:
        if type(data) is not dict or (strict and not data.keys() <= writable):
            raise Defer
        out = {}
        for name, convert_field, validate_field, required, default in entries:
            value = data.get(name, empty)
            if value is empty:
                if required:
                    raise Defer
                if default is empty:
                    continue  # DRF's SkipField: the key stays out of the result
                value = default() if callable(default) else default  # as DRF: the default is not validated
            else:
                value = convert_field(value)
            if validate_field is not None:
                value = _judged(validate_field, value)
            out[name] = value
        if validate is not None:
            out = _judged(validate, out)
            if out is None:
                raise Defer  # DRF asserts; let it
        return out

    return convert


def _judged(method: Callable[[Any], Any], value: Any) -> Any:
    """A serializer's own `validate`/`validate_<field>`: its refusal is DRF's to word."""
    try:
        return method(value)
    except (serializers.ValidationError, DjangoValidationError):
        raise Defer from None


def _field(field: fields.Field) -> Convert:
    if isinstance(field, serializers.Serializer):
        return _serializer(field)
    build = _BUILDERS.get(type(field))  # the exact class: a subclass may add rules
    if build is None:
        raise _Unsupported(type(field).__name__)
    if field.validators and type(field) not in _READ_VALIDATORS:
        raise _Unsupported(f"{type(field).__name__}: validators")
    return build(field)


def _bounds(field: fields.Field, allowed: tuple[type, ...]) -> tuple[Any, Any, Any, Any]:
    """(min_length, max_length, min_value, max_value) of the field's validators, None where absent;
    a validator of another kind (or of a kind not in `allowed`) is not understood."""
    found: dict[type, Any] = {}
    for validator in field.validators:
        kind = type(validator)
        if kind not in allowed:
            raise _Unsupported(f"{type(field).__name__}: {kind.__name__}")
        limit = getattr(validator, "limit_value", None)
        if callable(limit) or kind in found:
            raise _Unsupported(f"{type(field).__name__}: {kind.__name__}")
        found[kind] = limit
    return (
        found.get(MinLengthValidator),
        found.get(MaxLengthValidator),
        found.get(MinValueValidator),
        found.get(MaxValueValidator),
    )


def _char(field: fields.CharField) -> Convert:
    min_length, max_length, _, _ = _bounds(
        field,
        (MinLengthValidator, MaxLengthValidator, ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator),
    )
    allow_blank, trim = field.allow_blank, field.trim_whitespace

    def convert(value: Any) -> str:
        # DRF: numbers become strings, whitespace is trimmed, "" is "blank"; those go to DRF.
        if type(value) is not str or (trim and value != value.strip()):
            raise Defer
        if not value:
            if allow_blank:
                return ""  # DRF returns "" before its validators
            raise Defer
        if (
            (max_length is not None and len(value) > max_length)
            or (min_length is not None and len(value) < min_length)
            or "\x00" in value
            or (not value.isascii() and _SURROGATE.search(value))
        ):
            raise Defer
        return value

    return convert


def _integer(field: fields.IntegerField) -> Convert:
    _, _, min_value, max_value = _bounds(field, (MinValueValidator, MaxValueValidator))
    low = -_INT_GUARD if min_value is None else max(min_value, -_INT_GUARD)
    high = _INT_GUARD if max_value is None else min(max_value, _INT_GUARD)

    def convert(value: Any) -> int:
        # bool is an int to Python, not to DRF; "12" and 12.0 are DRF's to convert.
        if type(value) is not int or not low <= value <= high:
            raise Defer
        return value

    return convert


def _choice(field: fields.ChoiceField) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not str or not value:
            raise Defer
        try:
            # Read per call: assigning `field.choices` rebuilds the mapping.
            return field.choice_strings_to_values[value]
        except KeyError:
            raise Defer from None

    return convert


def _datetime(field: fields.DateTimeField) -> Convert:
    """DRF's ISO 8601 parse is Django's `parse_datetime`, which returns `datetime.fromisoformat`'s
    result when that accepts the text; DRF then converts an aware value to the field's time zone.
    Naive values and the other spellings `parse_datetime` knows go to DRF."""
    formats = getattr(field, "input_formats", api_settings.DATETIME_INPUT_FORMATS)
    if not formats or formats[0].lower() != ISO_8601:
        raise _Unsupported("DateTimeField: input_formats")
    fixed_zone = hasattr(field, "timezone")

    def convert(value: Any) -> dt.datetime:
        if type(value) is not str:
            raise Defer
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise Defer from None
        if fixed_zone:
            zone: dt.tzinfo | None = field.timezone
        else:
            zone = _validation.zone
            if zone is None:
                zone = field.default_timezone()
            elif zone is _UNREAD:
                zone = _validation.zone = field.default_timezone()
        if parsed.utcoffset() is None or zone is None:
            raise Defer
        try:
            return parsed.astimezone(zone)
        except OverflowError:
            raise Defer from None

    return convert


def _json(field: fields.JSONField) -> Convert:
    if field.binary:
        raise _Unsupported("JSONField(binary=True)")
    to_internal_value = field.to_internal_value

    def convert(value: Any) -> Any:
        if value is None:
            raise Defer
        try:
            return to_internal_value(value)  # DRF checks the value serialises as JSON
        except serializers.ValidationError:
            raise Defer from None

    return convert


def _list(field: fields.ListField) -> Convert:
    min_length, max_length, _, _ = _bounds(field, (MinLengthValidator, MaxLengthValidator))
    return _items(_field(field.child), field.allow_empty, min_length, max_length)


def _list_serializer(field: serializers.ListSerializer) -> Convert:
    child = field.child
    if not isinstance(child, serializers.Serializer):
        raise _Unsupported(type(child))  # as _serializer does for any other child
    min_length = field.min_length  # type: ignore[attr-defined]  # DRF's ListSerializer stub lacks min_length
    max_length = field.max_length  # type: ignore[attr-defined]  # DRF's ListSerializer stub lacks max_length
    return _items(_serializer(child), field.allow_empty, min_length, max_length)


def _items(child: Convert, allow_empty: bool | None, min_length: int | None, max_length: int | None) -> Convert:
    """A JSON list of `child` items (DRF also takes other iterables: those go to DRF)."""

    def convert(value: Any) -> list[Any]:
        if type(value) is not list or (not value and not allow_empty):
            raise Defer
        if (max_length is not None and len(value) > max_length) or (min_length is not None and len(value) < min_length):
            raise Defer
        return [child(item) for item in value]

    return convert


_BUILDERS: dict[type, Callable[[Any], Convert]] = {
    fields.CharField: _char,
    fields.IntegerField: _integer,
    fields.ChoiceField: _choice,
    fields.DateTimeField: _datetime,
    fields.JSONField: _json,
    fields.ListField: _list,
    serializers.ListSerializer: _list_serializer,
}
# Fields whose builder reads their validators (see _bounds); any other field must have none.
_READ_VALIDATORS = (fields.CharField, fields.IntegerField, fields.ListField)
