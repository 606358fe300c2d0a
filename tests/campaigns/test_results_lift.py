"""The results' lift (issue 24): computed whenever there is a hold-out — GMV per member and orders
per member against it — with its size, and said in plain words when it cannot tell: no hold-out,
a hold-out too small to tell, a hold-out that bought nothing."""

import pytest

from campaigns.selectors import HOLDOUT_TOO_SMALL, GroupResult, OccurrenceResults


def results(audience: GroupResult, holdout: GroupResult) -> OccurrenceResults:
    return OccurrenceResults(audience=audience, holdout=holdout, messages={}, points_awarded=0)


def test_lift_of_gmv_and_orders_per_member_against_the_hold_out() -> None:
    r = results(GroupResult(members=200, buyers=40, orders=50, gmv_fen=300_000), GroupResult(40, 4, 5, 40_000))

    assert r.lift_pct == pytest.approx((1_500 - 1_000) / 1_000 * 100)  # ¥15.00 against ¥10.00 a member
    assert r.orders_per_member_lift_pct == pytest.approx((0.25 - 0.125) / 0.125 * 100)
    assert r.lift_note == "受众人均 GMV 比对照组高 50.0%。"


def test_a_lower_audience_is_said_as_lower() -> None:
    r = results(GroupResult(100, 5, 5, 50_000), GroupResult(50, 5, 5, 50_000))

    assert r.lift_pct == pytest.approx(-50.0) and r.lift_note == "受众人均 GMV 比对照组低 50.0%。"


def test_without_a_hold_out_there_is_no_lift_and_the_note_says_why() -> None:
    r = results(GroupResult(100, 10, 10, 100_000), GroupResult(0, 0, 0, 0))

    assert r.lift_pct is None and r.orders_per_member_lift_pct is None
    assert r.lift_note == "本次没有对照组，无法计算提升。"


def test_a_small_hold_out_still_has_its_lift_and_a_warning_with_its_size() -> None:
    small = HOLDOUT_TOO_SMALL - 1
    r = results(GroupResult(100, 10, 10, 200_000), GroupResult(small, 2, 2, small * 1_000))

    assert r.lift_pct is not None and r.lift_pct > 0
    assert f"对照组只有 {small} 人" in r.lift_note and "暂不能据此判断" in r.lift_note


def test_a_hold_out_that_bought_nothing_gives_no_ratio_and_says_so() -> None:
    r = results(GroupResult(100, 10, 10, 100_000), GroupResult(HOLDOUT_TOO_SMALL, 0, 0, 0))

    assert r.lift_pct is None and r.orders_per_member_lift_pct is None
    assert r.lift_note == "对照组在活动窗口内没有消费，无法计算相对提升。"
