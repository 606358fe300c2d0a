"""Where a scan came from: the IP's province and city from an offline table (scancodes/data).
Never the network, never a paid API; precise location is asked for separately (views.py)."""

import bisect
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

TABLE = Path(__file__).parent / "data" / "ip_cities.txt"
# Suffixes dropped so that "浙江省", "浙江" and "杭州市", "杭州" match a dealer's region words.
_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市")


@dataclass(frozen=True)
class Place:
    province: str = ""
    city: str = ""

    @property
    def known(self) -> bool:
        return bool(self.province or self.city)

    @property
    def label(self) -> str:
        if self.city and self.province and not self.city.startswith(area_word(self.province)):
            return f"{self.province}{self.city}"
        return self.city or self.province or "未知地区"


def area_word(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@lru_cache(maxsize=1)
def _table() -> tuple[list[int], list[tuple[int, str, str]]]:
    starts: list[int] = []
    rows: list[tuple[int, str, str]] = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5:
            continue
        start, end = int(ipaddress.IPv4Address(parts[0])), int(ipaddress.IPv4Address(parts[1]))
        starts.append(start)
        rows.append((end, _blank(parts[3]), _blank(parts[4])))
    return starts, rows


def _blank(value: str) -> str:
    return "" if value in ("0", "") else value


@lru_cache(maxsize=1)
def _xdb() -> object | None:
    path = getattr(settings, "SCANCODES_IP2REGION_XDB", "")
    if not path:
        return None
    from ip2region import searcher, util

    content = util.load_content_from_file(path)
    return searcher.new_with_buffer(util.IPv4, content)


@lru_cache(maxsize=4096)
def place_of_ip(ip: str | None) -> Place:
    if not ip:
        return Place()
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return Place()
    xdb = _xdb()
    if xdb is not None and address.version == 4:
        region = xdb.search(ip)  # type: ignore[attr-defined]  # "中国|浙江省|杭州市|电信"
        parts = region.split("|")
        return Place(province=_blank(parts[1]), city=_blank(parts[2])) if len(parts) >= 3 else Place()
    if address.version != 4:
        return Place()
    starts, rows = _table()
    value = int(address)
    index = bisect.bisect_right(starts, value) - 1
    if index >= 0 and value <= rows[index][0]:
        return Place(province=rows[index][1], city=rows[index][2])
    return Place()


def in_region(place: Place, areas: list[str]) -> bool | None:
    """Whether `place` lies in a dealer's region (provinces or cities). None: cannot tell (no
    region planned, or the IP's place unknown) — which never raises an alert."""
    words = {area_word(area.strip()) for area in areas if area.strip()}
    if not words or not place.known:
        return None
    return area_word(place.province) in words or area_word(place.city) in words
