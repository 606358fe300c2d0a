"""我的优惠券: the signed-in member's own coupons in three tabs (可使用 / 已使用 / 已过期), in words
and yuan with brand-local dates, the code as a QR for the counter. Reads coupons' selectors
(coupons sits below the member centre); registers the section tile on the card page."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.safestring import SafeString

from coupons.models import Coupon, CouponTemplate
from coupons.rules import code_shown, validity_words
from coupons.selectors import CouponView, member_coupons_grouped
from members.models import Member

from .presentation import local_text
from .render import coupon_qr_svg
from .sections import Section, section_register

TABS = (("usable", "可使用"), ("used", "已使用"), ("expired", "已过期"))


@dataclass(frozen=True)
class CouponCard:
    name: str
    benefit: str
    validity: str
    until: str
    state: str
    reasons: str
    code: str  # shown under the QR (grouped for reading aloud)
    qr: SafeString | None
    how: str  # how to use it at the counter


def _card(view: CouponView, tab: str) -> CouponCard:
    coupon: Coupon = view.coupon
    template = coupon.template
    qr = None
    code = ""
    how = ""
    if tab == "usable":
        if template.code_mode == CouponTemplate.CodeMode.GENERATED and coupon.code:
            qr, code, how = coupon_qr_svg(coupon.code), code_shown(coupon.code), "到店出示此二维码，由店员扫码核销"
        elif template.code_mode == CouponTemplate.CodeMode.IMPORTED:
            how = f"凭您收到的券码（尾号 {coupon.code[-4:]}）使用"
        else:
            how = "到店出示会员码，店员即可为您核销"
    if tab == "used":
        state = f"已于 {local_text(coupon.used_at)} 使用" if coupon.used_at else "已使用"
    elif tab == "expired":
        state = "已作废" if coupon.state == Coupon.State.VOIDED else "已过期"
    else:
        state = "可使用" if view.usable else "暂不可用"
    return CouponCard(
        name=template.name,
        benefit=view.benefit,
        validity=validity_words(template),
        until=local_text(coupon.valid_until),
        state=state,
        reasons="；".join(view.reason_texts) if tab == "usable" else "",
        code=code,
        qr=qr,
        how=how,
    )


def coupon_tabs(*, member_id: int) -> list[tuple[str, str, list[CouponCard]]]:
    groups = member_coupons_grouped(member_id=member_id)
    return [(key, title, [_card(v, key) for v in groups[key]]) for key, title in TABS]


def _usable_badge(member: Member) -> str:
    count = sum(1 for v in member_coupons_grouped(member_id=member.pk)["usable"] if v.usable)
    return f"{count} 张可用" if count else "暂无可用券"


def coupons_section_register() -> None:
    section_register(
        Section(
            key="coupons",
            title="我的优惠券",
            order=10,
            url=lambda member: reverse("membercentre:coupons"),
            badge=_usable_badge,
        )
    )
