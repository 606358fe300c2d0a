"""The birthday is set once by the member; later changes only in store, by staff with a reason,
audited; 生日关怀 lists this week's birthdays, 29 February included in a non-leap year."""

import datetime as dt

import pytest

from crm.errors import AppError
from engagement.models import BirthdayChange, EngagementSettings
from engagement.selectors import birthday_care
from engagement.services.birthday_profile import birthday_change_in_store, birthday_set_by_member
from members.models import Member
from tests.factories import MemberFactory

from .scene import clock, rules


def test_the_member_sets_the_birthday_once_then_only_the_store_changes_it(in_brand_a):
    rules()
    member = MemberFactory(birthday=None)
    with clock("2027-01-31 23:59:59"):
        birthday_set_by_member(member=member, birthday=dt.date(1990, 2, 28))
    with pytest.raises(AppError) as refused:
        birthday_set_by_member(member=member, birthday=dt.date(1990, 6, 1))
    assert refused.value.code == "birthday_locked" and "门店" in refused.value.message
    assert Member.objects.get(pk=member.pk).birthday == dt.date(1990, 2, 28)
    with pytest.raises(AppError):
        birthday_change_in_store(member=member, birthday=dt.date(1990, 3, 1), actor="店员小王", reason="")
    with clock("2027-02-03 10:00:00"):
        birthday_change_in_store(member=member, birthday=dt.date(1990, 3, 1), actor="店员小王", reason="身份证核对")
    fresh = Member.objects.get(pk=member.pk)
    assert fresh.birthday == dt.date(1990, 3, 1)
    assert fresh.birthday_changed_at.isoformat().startswith("2027-02-03T02:00")  # the job's guard sees it
    audit = list(BirthdayChange.objects.order_by("id").values_list("by", "actor", "before", "after", "reason"))
    assert audit == [
        ("member", "会员本人", None, dt.date(1990, 2, 28), ""),
        ("staff", "店员小王", dt.date(1990, 2, 28), dt.date(1990, 3, 1), "身份证核对"),
    ]


def test_a_member_whose_birthday_the_store_entered_cannot_change_it_themself(in_brand_a):
    member = MemberFactory(birthday=dt.date(1988, 12, 31))
    with pytest.raises(AppError):
        birthday_set_by_member(member=member, birthday=dt.date(1988, 1, 1))
    assert not BirthdayChange.objects.exists()


@pytest.mark.parametrize(
    ("feb29", "today", "listed"),
    [
        (EngagementSettings.Feb29.FEB28, dt.date(2027, 2, 22), True),  # the week holds 28 Feb 2027
        (EngagementSettings.Feb29.FEB28, dt.date(2027, 3, 1), False),
        (EngagementSettings.Feb29.MAR1, dt.date(2027, 2, 22), False),  # the week ends on 28 Feb
        (EngagementSettings.Feb29.MAR1, dt.date(2027, 2, 23), True),  # ... now it holds 1 Mar
        (EngagementSettings.Feb29.MAR1, dt.date(2028, 2, 23), True),  # a leap year: 29 Feb itself
        (EngagementSettings.Feb29.FEB28, dt.date(2027, 12, 29), False),
    ],
)
@pytest.mark.parametrize("brand_wide", [False, True], ids=["store: day pairs", "brand: day ranges"])
def test_birthday_care_lists_29_february_in_every_year(in_brand_a, feb29, today, listed, brand_wide):
    rules(birthday_feb29=feb29)
    leapling = MemberFactory(birthday=dt.date(2000, 2, 29))
    MemberFactory(birthday=dt.date(2000, 7, 1))
    found = set(
        birthday_care(members=Member.objects.all(), today=today, brand_wide=brand_wide).values_list("pk", flat=True)
    )
    assert (leapling.pk in found) is listed


@pytest.mark.parametrize("brand_wide", [False, True], ids=["store: day pairs", "brand: day ranges"])
def test_birthday_care_crosses_the_year_end(in_brand_a, brand_wide):
    rules()
    new_year = MemberFactory(birthday=dt.date(1985, 1, 2))
    before_the_week = MemberFactory(birthday=dt.date(1985, 12, 27))
    after_the_week = MemberFactory(birthday=dt.date(1985, 1, 4))
    frozen = MemberFactory(birthday=dt.date(1985, 12, 31), status=Member.Status.FROZEN)
    found = set(
        birthday_care(members=Member.objects.all(), today=dt.date(2027, 12, 28), brand_wide=brand_wide).values_list(
            "pk", flat=True
        )
    )
    assert found == {new_year.pk}
    assert before_the_week.pk not in found and after_the_week.pk not in found
    assert frozen.pk not in found


# --- set once, then only in store: on every path ---------------------------------------------------


def test_no_path_but_the_store_changes_a_set_birthday(in_brand_a):
    from members.services.members import member_profile_update

    member = MemberFactory(birthday=dt.date(1990, 5, 1))
    for birthday in (dt.date(1990, 5, 2), None):  # moving it, or clearing it to set it again
        with pytest.raises(AppError) as refused:
            member_profile_update(member=member, actor="商城", birthday=birthday)
        assert refused.value.code == "birthday_locked" and refused.value.status == 409
        assert "门店" in refused.value.message and refused.value.fields == {
            "birthday": ["生日已设置，只能在门店更正。"]
        }
    member_profile_update(member=member, actor="商城", birthday=dt.date(1990, 5, 1), name="新名字")  # the same: fine
    fresh = Member.objects.get(pk=member.pk)
    assert (fresh.birthday, fresh.name) == (dt.date(1990, 5, 1), "新名字")
    empty = MemberFactory(birthday=None)
    member_profile_update(member=empty, actor="商城", birthday=dt.date(1991, 1, 2))  # an empty one is filled
    assert Member.objects.get(pk=empty.pk).birthday == dt.date(1991, 1, 2)


def test_the_partner_api_cannot_move_a_set_birthday(in_brand_a, client_a, brand_a):
    import json

    from tests.api.conftest import call, make_key

    member = MemberFactory(birthday=dt.date(1990, 5, 1))
    key = make_key(brand_a.schema_name)
    refused = call(client_a, "PATCH", f"/api/v1/members/{member.member_no}", key=key, body={"birthday": "1990-06-01"})
    assert refused.status_code == 409, refused.content
    problem = json.loads(refused.content)
    assert problem["code"] == "birthday_locked" and "门店" in problem["detail"]
    assert Member.objects.get(pk=member.pk).birthday == dt.date(1990, 5, 1)
    english = call(
        client_a,
        "PATCH",
        f"/api/v1/members/{member.member_no}",
        key=key,
        body={"birthday": None},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 409 and json.loads(english.content)["code"] == "birthday_locked"


def test_the_back_office_shows_a_set_birthday_read_only(admin_client_a, in_brand_a):
    member = MemberFactory(birthday=dt.date(1990, 5, 1))
    blank = MemberFactory(birthday=None)
    page = admin_client_a.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert 'name="birthday"' not in page and "只能由门店在工作台更正" in page
    assert 'name="birthday"' in admin_client_a.get(f"/admin/members/member/{blank.pk}/change/").content.decode()
