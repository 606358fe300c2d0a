"""Mobile validation/masking, and the four roles every brand starts with."""

import pytest
from django.contrib.auth.models import Group

from crm.errors import AppError
from members import error_codes
from members.masking import birthday_mask, name_mask
from members.phones import mobile_mask, mobile_normalize
from members.roles import ALL_ROLES, BRAND_ADMIN, HQ_MARKETER, STORE_MANAGER, STORE_STAFF


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("13812341234", "+8613812341234"),
        ("138 1234 1234", "+8613812341234"),
        ("+86 138-1234-1234", "+8613812341234"),
        ("008613812341234", "+8613812341234"),
        ("+85291234567", "+85291234567"),
        ("+14155552671", "+14155552671"),
    ],
)
def test_mobiles_are_normalised_to_e164(typed, e164):
    assert mobile_normalize(typed) == e164


@pytest.mark.parametrize("bad", ["", "1381234123", "12345678901", "010-12345678", "not a number", "+86"])
def test_invalid_mobiles_are_refused(bad):
    with pytest.raises(AppError) as caught:
        mobile_normalize(bad)
    assert caught.value.code == error_codes.MOBILE_INVALID
    assert "mobile" in caught.value.fields


def test_masking():
    assert mobile_mask("+8613812341234") == "138****1234"
    assert mobile_mask("+85291234567") == "+852****4567"
    assert name_mask("张三丰") == "张**"
    assert name_mask("李") == "李*"
    import datetime as dt

    assert birthday_mask(dt.date(1990, 5, 12)) == "**-05-12"


@pytest.mark.parametrize("in_brand", ["in_brand_a", "in_brand_b"])
def test_every_brand_has_the_four_roles_with_their_permissions(in_brand, request):
    request.getfixturevalue(in_brand)
    groups = {g.name: g for g in Group.objects.filter(name__in=ALL_ROLES).prefetch_related("permissions__content_type")}
    assert set(groups) == set(ALL_ROLES)

    def perms(role):
        return {f"{p.content_type.app_label}.{p.codename}" for p in groups[role].permissions.all()}

    assert {"members.view_full_pi", "members.adjust_points_unlimited", "members.merge_member"} <= perms(BRAND_ADMIN)
    assert "members.view_all_stores" in perms(HQ_MARKETER)
    assert "members.view_full_pi" not in perms(HQ_MARKETER)
    assert {"members.add_member", "members.view_full_pi", "members.freeze_member"} <= perms(STORE_MANAGER)
    assert "members.add_member" in perms(STORE_STAFF)
    # Store roles are scoped to their store and never see all stores or unmasked PI by default.
    for role in (STORE_MANAGER, STORE_STAFF):
        assert "members.view_all_stores" not in perms(role)
        assert "members.merge_member" not in perms(role)
    assert "members.view_full_pi" not in perms(STORE_STAFF)
