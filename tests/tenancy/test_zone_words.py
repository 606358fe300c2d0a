"""A time zone on a page reads as people name it (北京时间), not as its identifier."""

import datetime as dt
import zoneinfo

from crm.tenancy.zones import zone_shown


def test_the_zones_chinese_brands_run_in_have_their_names() -> None:
    assert zone_shown(zoneinfo.ZoneInfo("Asia/Shanghai")) == "北京时间"
    assert zone_shown(zoneinfo.ZoneInfo("Asia/Hong_Kong")) == "香港时间"


def test_any_other_zone_reads_with_its_offset_at_that_instant() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    winter = dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC)
    summer = dt.datetime(2027, 7, 15, 12, tzinfo=dt.UTC)
    assert zone_shown(paris, winter) == "Europe/Paris（UTC+01:00）"
    assert zone_shown(paris, summer) == "Europe/Paris（UTC+02:00）"
    assert zone_shown(zoneinfo.ZoneInfo("America/New_York"), winter) == "America/New_York（UTC-05:00）"
