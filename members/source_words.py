"""Member sources (`Member.source`) in words. A source is either the `state` of the channel QR code
(渠道活码) the member came through — named as the marketer named the code, by the apps that know the
codes (dashboard: members by source) — or one the product writes itself, named here."""

SOURCE_NAMES = {
    "admin": "后台录入",
    "import": "批量导入",
    "workbench_qr": "门店入会二维码",
    "member_centre": "会员中心自助入会",
    "demo": "演示数据",
}
# A member who joined by scanning a product's code (一物一码): `scan:<SKU>`.
SCAN_PREFIX = "scan:"


def source_shown(source: str, code_name: str | None = None) -> str:
    """The channel code's name when one carries the state, else the product's word for its own
    source, else the state as stored (a retired code's); "（无）" when none was recorded."""
    if code_name:
        return code_name
    if source.startswith(SCAN_PREFIX):
        return f"扫码入会（{source.removeprefix(SCAN_PREFIX)}）"
    return SOURCE_NAMES.get(source) or source or "（无）"
