"""What a merge moved, in words: the record keeps a machine summary (``{"identities": 2,
"orders": 5, "points_net": 300, "tier": "gold", "profile": ["birthday"]}``, written by
members/services/merge.py); a page shows "身份标识 2 个、订单 5 笔、积分 +300、等级升为金卡、补全资料：生日"."""

from typing import Any

from .models import Staff, Tier

_PROFILE_FIELDS = {
    "name": "姓名",
    "birthday": "生日",
    "home_store_id": "所属门店",
    "mobile": "手机号",
    "gender": "性别",
}


def merge_moved_words(moved: dict[str, Any] | None) -> str:
    """One sentence; a key this function does not know is left out rather than shown raw."""
    moved = moved or {}
    parts: list[str] = []
    if moved.get("identities"):
        parts.append(f"身份标识 {moved['identities']} 个")
    if moved.get("orders"):
        parts.append(f"订单 {moved['orders']} 笔")
    points = moved.get("points_net")
    if points:
        parts.append(f"积分 {points:+,}")
    if moved.get("lots"):
        parts.append(f"积分批次 {moved['lots']} 个")
    tier_codes = [code for code in (moved.get("tier"), moved.get("tier_floor")) if code]
    names = dict(Tier.objects.filter(code__in=tier_codes).values_list("code", "name")) if tier_codes else {}
    if moved.get("tier"):
        parts.append(f"等级升为{names.get(moved['tier'], moved['tier'])}")
    if moved.get("tier_floor"):
        parts.append(f"保底等级{names.get(moved['tier_floor'], moved['tier_floor'])}")
    if moved.get("assigned_staff"):
        staff = Staff.objects.filter(pk=moved["assigned_staff"]).values_list("name", flat=True).first()
        parts.append(f"专属导购{staff or '（已删除）'}")
    if moved.get("tags"):
        parts.append(f"标签 {moved['tags']} 个")
    profile = [_PROFILE_FIELDS.get(name, "") for name in moved.get("profile") or []]
    if any(profile):
        parts.append("补全资料：" + "、".join(word for word in profile if word))
    return "、".join(parts) or "无"
