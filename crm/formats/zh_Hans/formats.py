"""Dates and times as people in China write them in a back office: 2026-11-07 07:39.

Django's own zh_Hans formats spell "2026年11月7日 07:39"; lists of orders and ledger entries read
better, and sort by eye, in the ISO-like form. Times are rendered in the brand's zone
(crm/tenancy/timezones: the active time zone), these only decide the spelling.
"""

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i"
YEAR_MONTH_FORMAT = "Y 年 n 月"
MONTH_DAY_FORMAT = "n 月 j 日"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
FIRST_DAY_OF_WEEK = 1
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f"]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
