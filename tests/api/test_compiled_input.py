"""The compiled fast path of input validation (crm/api/compiled_input.py) says yes only where DRF
says yes, with an equal result; everything else is left to DRF."""

import contextlib
import datetime as dt
import json
from typing import Any, cast

import pytest
from django.core.validators import RegexValidator
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import fields, serializers

import consent.serializers
import crm.api.serializers
import members.serializers
import webhooks.serializers
from crm.api.compiled_input import Defer, compile_input, validation_scope
from crm.api.serializers import StrictSerializer
from crm.api.views import input_validator
from members.apis import ORDER_EXAMPLE
from members.serializers import OrderBatchInSerializer, OrderInSerializer

# Hypothesis takes its bounds naive (and adds the zone itself).
YEARS = (dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1))  # noqa: DTZ001
SERIALIZER_MODULES = (members.serializers, consent.serializers, crm.api.serializers, webhooks.serializers)


def input_serializers() -> list[type[StrictSerializer]]:
    found: list[type[StrictSerializer]] = []
    pending = list(StrictSerializer.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(
        (c for c in found if c.__module__ in {m.__name__ for m in SERIALIZER_MODULES}), key=lambda c: c.__name__
    )


COMPILED = [cls for cls in input_serializers() if compile_input(cls()) is not None]

# Values DRF treats specially: coercions (numbers as strings and back), trimming, blanks, nulls,
# characters its validators refuse, other datetime spellings, wrong containers.
TRICKY: list[Any] = [
    None,
    "",
    " ",
    " padded ",
    "tab\t",
    "nul\x00",
    "\ud800",
    "制服",
    "x" * 300,
    0,
    1,
    -1,
    10**19,
    1.0,
    2.5,
    True,
    False,
    "12",
    " 12",
    "12.0",
    [],
    [{}],
    {},
    "2026-01-05T10:00:00+08:00",
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00",
    "2026-01-05",
    "2026-01-05 10:00:00+0800",
    "2026-01-05T10:00:00.1234567+08:00",
    "20260105T100000+0800",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "mobile",
    "wechat_unionid",
    "13800138000",
    "+8613800138000",
    "mini_program",
]


def mostly(usual: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten, else one of `others` (st.one_of would not weigh repeats)."""
    return st.sampled_from([usual] * 9 + [st.one_of(*others)]).flatmap(lambda strategy: strategy)


def values_for(field: fields.Field) -> st.SearchStrategy[Any]:
    """Inputs for `field`: mostly what it accepts (so the fast path has something to judge), some
    near misses, some TRICKY values."""
    near: st.SearchStrategy[Any] = st.nothing()
    if isinstance(field, serializers.Serializer):
        canonical: st.SearchStrategy[Any] = data_for(field)
    elif type(field) is serializers.ListSerializer:
        child = cast(serializers.Serializer, field.child)  # a nested serializer with many=True
        max_length = field.max_length  # type: ignore[attr-defined]  # DRF sets it; its stubs do not declare it
        canonical = st.lists(data_for(child), max_size=2)
        near = st.lists(data_for(child), max_size=(max_length or 3) + 1)
    elif type(field) is fields.ListField:
        canonical = near = st.lists(values_for(field.child), max_size=4)
    elif type(field) is fields.ChoiceField:
        canonical = st.sampled_from(list(field.choice_strings_to_values))
    elif type(field) is fields.IntegerField:
        low = field.min_value if field.min_value is not None else -(10**6)
        high = field.max_value if field.max_value is not None else 10**6
        canonical = st.integers(low, high)
        near = st.one_of(st.integers(low - 1, low), st.integers(high, high + 1))
    elif type(field) is fields.DateTimeField:
        aware = st.datetimes(*YEARS, timezones=st.timezones())
        canonical = aware.map(lambda d: d.isoformat())
        naive = st.datetimes(*YEARS).map(lambda d: d.isoformat())
        near = st.one_of(naive, st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat(sep=" ")))
    elif type(field) is fields.CharField:
        size = field.max_length or 20
        edge, inner = "[A-Za-z0-9制服-]", "[A-Za-z0-9 制服-]"  # no whitespace at either end: DRF would trim it
        canonical = st.from_regex(rf"{edge}({inner}{{0,{size - 2}}}{edge})?", fullmatch=True)
        near = st.one_of(st.text(max_size=size + 1), st.text(min_size=size, max_size=size + 1))
    elif type(field) is fields.JSONField:
        canonical = st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
            max_leaves=8,
        )
    else:
        raise AssertionError(f"no strategy for {type(field).__name__}")
    return mostly(canonical, near, st.sampled_from(TRICKY))


def data_for(serializer: serializers.Serializer) -> st.SearchStrategy[Any]:
    writable = {name: values_for(f) for name, f in serializer.fields.items() if not f.read_only}
    extra = {name: st.just(1) for name, f in serializer.fields.items() if f.read_only}
    required = {name: s for name, s in writable.items() if serializer.fields[name].required}
    optional = {name: s for name, s in writable.items() if name not in required}
    with_required = st.fixed_dictionaries(required, optional=optional)
    loose = st.fixed_dictionaries({}, optional={**writable, **extra, "unknown_key": st.just("x")})
    return mostly(with_required, loose)


def same(fast: Any, drf: Any) -> bool:
    """Equal, of the same types all the way down, datetimes in the same zone."""
    if type(fast) is not type(drf):
        return False
    if isinstance(fast, dict):
        return list(fast) == list(drf) and all(same(fast[k], drf[k]) for k in fast)
    if isinstance(fast, list):
        return len(fast) == len(drf) and all(same(a, b) for a, b in zip(fast, drf, strict=True))
    if isinstance(fast, dt.datetime):
        return fast == drf and fast.tzinfo == drf.tzinfo and fast.utcoffset() == drf.utcoffset()
    return fast == drf


def check_agrees(serializer: serializers.Serializer, data: Any) -> bool:
    """True when the fast path judged `data` (and agreed with DRF), False when it deferred."""
    fast = compile_input(serializer)
    assert fast is not None
    try:
        result = fast(data)
    except Defer:
        return False
    try:
        expected = serializer.run_validation(data)
    except serializers.ValidationError as exc:
        pytest.fail(f"fast path accepted what DRF refuses: {data!r} -> {exc.detail!r}")
    assert same(result, expected), (data, result, expected)
    return True


def test_the_partner_order_inputs_compile() -> None:
    # Without these the batch endpoint quietly falls back to DRF for every item (~8x the CPU).
    assert OrderInSerializer in COMPILED
    assert OrderBatchInSerializer in COMPILED


@pytest.mark.parametrize("serializer_class", COMPILED, ids=lambda c: c.__name__)
def test_fast_path_agrees_with_drf(serializer_class: type[StrictSerializer]) -> None:
    serializer = serializer_class()
    judged: list[bool] = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    # Also under other active zones: the process's own zone (Django sets TZ) would hide a naive
    # datetime read as local time instead of made aware the way DRF makes it.
    @given(data_for(serializer), st.sampled_from([None, "UTC", "America/New_York"]))
    def agree(data: dict[str, Any], zone: str | None) -> None:
        with timezone.override(zone) if zone else contextlib.nullcontext():
            judged.append(check_agrees(serializer, data))

    agree()
    # The property is only worth something if the fast path judged a fair share of the inputs.
    assert sum(judged) >= 30, f"fast path judged {sum(judged)} of {len(judged)}"


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_datetimes_land_in_the_active_zone_as_drf_puts_them(zone: str) -> None:
    order = json.loads(json.dumps(ORDER_EXAMPLE))
    with timezone.override(zone):
        assert check_agrees(OrderInSerializer(), order)
        paid_at = compile_input(OrderInSerializer())(order)["paid_at"]  # type: ignore[misc]
    assert str(paid_at.tzinfo) == zone


def test_in_a_validation_scope_the_zone_is_read_once_and_forgotten_after() -> None:
    order = json.loads(json.dumps(ORDER_EXAMPLE))
    fast = compile_input(OrderInSerializer())
    assert fast is not None
    with timezone.override("America/New_York"), validation_scope():
        assert str(fast(order)["paid_at"].tzinfo) == "America/New_York"
        assert check_agrees(OrderInSerializer(), order)
        with validation_scope():  # nested: the outer reading stands
            assert str(fast(order)["paid_at"].tzinfo) == "America/New_York"
    with timezone.override("UTC"):
        assert str(fast(order)["paid_at"].tzinfo) == "UTC"  # the scope's reading is not kept


def test_the_documented_order_and_a_batch_of_it_take_the_fast_path() -> None:
    order = json.loads(json.dumps(ORDER_EXAMPLE))
    assert check_agrees(OrderInSerializer(), order)
    assert check_agrees(OrderBatchInSerializer(), {"orders": [order] * 500})


def test_a_mobile_buyer_is_normalised_by_the_serializers_own_validate() -> None:
    order = {**ORDER_EXAMPLE, "buyer": {"kind": "mobile", "value": "13800138000"}}
    assert check_agrees(OrderInSerializer(), order)
    assert compile_input(OrderInSerializer())(order)["buyer"]["value"] == "+8613800138000"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"order_no": " W1 "},  # DRF trims
        {"amount_fen": "25900"},  # DRF converts
        {"amount_fen": True},
        {"paid_at": "2026-01-08T10:21:00"},  # naive: DRF makes it aware
        {"points_earned": 5},  # read-only
        {"tier": "gold"},  # unknown
        {"buyer": {"kind": "mobile", "value": "12"}},  # the serializer's validate refuses
        {"lines": [{"sku": "S", "amount_fen": 1, "quantity": 0}]},
    ],
)
def test_what_drf_must_judge_is_deferred(change: dict[str, Any]) -> None:
    fast = compile_input(OrderInSerializer())
    assert fast is not None
    with pytest.raises(Defer):
        fast({**ORDER_EXAMPLE, **change})


def test_the_validator_falls_back_to_drf_for_its_errors() -> None:
    bad = {**ORDER_EXAMPLE, "amount_fen": -1, "tier": "gold"}
    with pytest.raises(serializers.ValidationError) as fast_path:
        input_validator(OrderInSerializer).run_validation(bad)
    with pytest.raises(serializers.ValidationError) as drf:
        OrderInSerializer().run_validation(bad)
    assert fast_path.value.detail == drf.value.detail
    assert set(fast_path.value.detail) == {"amount_fen", "tier"}


def test_the_validator_words_errors_in_the_active_language_every_time() -> None:
    """One validator per thread serves every request: an error first shown in Chinese must still
    be English for the next request that asks for English (DRF keeps a bound's message text)."""
    bad = {**ORDER_EXAMPLE, "amount_fen": -1}
    for language, message in [
        ("zh-hans", "请确保该值大于或者等于 0。"),
        ("en", "Ensure this value is greater than or equal to 0."),
        ("zh-hans", "请确保该值大于或者等于 0。"),
    ]:
        with translation.override(language), pytest.raises(serializers.ValidationError) as refused:
            input_validator(OrderInSerializer).run_validation(bad)
        assert refused.value.detail == {"amount_fen": [message]}, language


class _Upper(StrictSerializer):
    code = serializers.CharField(max_length=8)

    def validate_code(self, value: str) -> str:
        if value == "no":
            raise serializers.ValidationError("refused")
        return value.upper()


def test_field_validate_methods_run_on_the_fast_path() -> None:
    fast = compile_input(_Upper())
    assert fast is not None
    assert fast({"code": "abc"}) == {"code": "ABC"}
    with pytest.raises(Defer):
        fast({"code": "no"})


class _Unbounded(serializers.Serializer):
    n = serializers.IntegerField()


def test_an_integer_python_cannot_print_is_drfs_to_refuse() -> None:
    fast = compile_input(_Unbounded())
    assert fast is not None
    assert fast({"n": -(10**17)}) == {"n": -(10**17)}
    with pytest.raises(Defer):
        fast({"n": 10**5000})  # DRF converts through str(), which Python refuses past 4,300 digits
    with pytest.raises(serializers.ValidationError):
        _Unbounded().run_validation({"n": 10**5000})


class _Email(serializers.Serializer):
    email = serializers.EmailField()


class _Custom(serializers.Serializer):
    code = serializers.CharField(validators=[RegexValidator(r"^[A-Z]+$")])


class _Sourced(serializers.Serializer):
    code = serializers.CharField(source="other")


class _Together(serializers.Serializer):
    a = serializers.IntegerField()

    class Meta:
        validators = [lambda attrs: None]


@pytest.mark.parametrize("serializer_class", [_Email, _Custom, _Sourced, _Together], ids=lambda c: c.__name__)
def test_what_the_compiler_does_not_know_gets_no_fast_path(serializer_class: type[serializers.Serializer]) -> None:
    assert compile_input(serializer_class()) is None
