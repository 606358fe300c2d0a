"""Engagement's coupon rewards through the coupons app (engagement sits above coupons, so it may
import it): registered in EngagementConfig.ready() as the issuer engagement.rewards calls. The
reward's `coupon_template` holds the template id; the source follows the reward's reference
(`birthday:<year>` → 生日礼, every check-in reference → 签到奖励) and the reference is the issue's
idempotency key, so a retried grant returns the first coupon."""

from coupons.models import Coupon
from coupons.rules import benefit_words
from coupons.services import coupon_issue, coupon_void, coupons_issue_bulk
from crm.errors import AppError
from members.models import Member

from . import error_codes


def coupon_source(reference: str) -> str:
    if reference.startswith("birthday:"):
        return Coupon.Source.BIRTHDAY
    if reference.startswith("referral:"):
        return Coupon.Source.REFERRAL
    return Coupon.Source.CHECKIN


def engagement_coupon_void(*, member_id: int, reference: str, reason: str) -> str:
    """Take back the coupon a reward issued under `reference` (a referral reversed by a refund):
    voided while unused; a coupon already used stays used (said in the words returned)."""
    coupon = Coupon.objects.filter(member_id=member_id, source_key=f"engagement:{reference}").order_by("id").first()
    if coupon is None:
        return ""
    if coupon.state not in (Coupon.State.ISSUED, Coupon.State.LOCKED):
        return f"优惠券已使用，未能撤回（{coupon.get_state_display()}）"
    coupon_void(coupon_id=coupon.pk, reason=reason, actor="engagement")
    return "优惠券已作废"


def engagement_coupon_issue(*, member: Member, template_code: str, reference: str, reason: str) -> str:
    """Issue the reward's coupon in the caller's transaction; the words of what was issued."""
    template_id = (template_code or "").strip()
    if not template_id.isdigit():
        raise AppError(
            error_codes.COUPON_UNAVAILABLE,
            f"奖励的优惠券模板「{template_code}」无效（应填写优惠券模板编号）。",
            fields={"coupon_template": ["请填写优惠券模板编号。"]},
        )
    coupon = coupon_issue(
        template_id=int(template_id),
        member_id=member.pk,
        source=coupon_source(reference),
        source_key=f"engagement:{reference}",
        actor="engagement",
    )
    return f"{coupon.template.name}（{benefit_words(coupon.template)}）1 张"


def birthday_coupons_issue(*, template_code: str, members_sql: str, params: tuple[object, ...], year: int) -> int:
    """The birthday benefit's coupon for every member the grant rows select, set-based (one
    coupons_issue_bulk), source 生日礼, key `engagement:birthday:<year>` (the same key as the
    one-member issuer's, so neither path issues twice). A template id that is not a number issues
    nothing. Returns how many coupons this call issued."""
    template_id = (template_code or "").strip()
    if not template_id.isdigit():
        return 0
    result = coupons_issue_bulk(
        template_id=int(template_id),
        members=(members_sql, params),
        source=Coupon.Source.BIRTHDAY,
        source_key=f"engagement:birthday:{year}",
        actor="engagement",
    )
    return result.issued_now
