"""A registry of member-centre sections (my coupons, check-in, invite friends, scan-to-earn, ...).

The member centre shows one tile per registered section on the card page. Apps register from
their AppConfig.ready():

    from membercentre.sections import Section, section_register
    section_register(Section(key="coupons", title="我的优惠券", order=10,
                             url=lambda member: reverse("coupons:member-list"),
                             badge=lambda member: f"{count} 张可用"))

The placeholders registered here stand for capabilities that have not landed yet: a real
registration under the same key replaces its placeholder. coupons and engagement sit below this
app in the layers and may be imported directly instead once they exist; upper apps (scancodes)
can only register.
"""

from collections.abc import Callable
from dataclasses import dataclass

from members.models import Member


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    order: int = 100
    description: str = ""
    url: Callable[[Member], str | None] | None = None
    badge: Callable[[Member], str] | None = None
    placeholder: bool = False


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    description: str
    href: str | None
    badge: str
    placeholder: bool


_sections: dict[str, Section] = {}


def section_register(section: Section) -> None:
    current = _sections.get(section.key)
    if current is not None and not current.placeholder and section.placeholder:
        return  # a placeholder never replaces the real thing, whatever the import order
    _sections[section.key] = section


def sections_for(member: Member) -> list[SectionView]:
    views = []
    for section in sorted(_sections.values(), key=lambda s: (s.order, s.key)):
        views.append(
            SectionView(
                key=section.key,
                title=section.title,
                description=section.description,
                href=section.url(member) if section.url else None,
                badge=section.badge(member) if section.badge else "",
                placeholder=section.placeholder,
            )
        )
    return views


PLACEHOLDERS = [
    Section(key="coupons", title="我的优惠券", order=10, description="即将上线", placeholder=True),
    Section(key="checkin", title="每日签到", order=20, description="即将上线", placeholder=True),
    Section(key="invite", title="邀请有礼", order=30, description="即将上线", placeholder=True),
    Section(key="scan", title="扫码积分", order=40, description="即将上线", placeholder=True),
]
for _placeholder in PLACEHOLDERS:
    section_register(_placeholder)
