"""Stable codes of the platform's brand management, with their text in both languages."""

from crm.errors import ErrorText, error_texts_register

BRAND_INVALID = "brand_invalid"
BRAND_CONFLICT = "brand_conflict"  # the same slug or domain being created at the same moment
DOMAIN_TAKEN = "domain_taken"
SLUG_TAKEN = "slug_taken"
WRONG_SCHEMA = "wrong_schema"  # brands are created from the platform (public schema) only

TEXTS: dict[str, ErrorText] = {
    BRAND_INVALID: ErrorText("品牌信息有误，请修改后重试。", "The brand's details are invalid."),
    BRAND_CONFLICT: ErrorText(
        "该品牌标识或域名正被同时创建，请稍后重试。", "This slug or domain is being created right now; retry later."
    ),
    DOMAIN_TAKEN: ErrorText("该域名已被其他品牌使用。", "The domain belongs to another brand."),
    SLUG_TAKEN: ErrorText("该品牌标识已被使用。", "The slug is taken."),
    WRONG_SCHEMA: ErrorText(
        "只能在平台（public）环境中创建品牌。", "Brands are created from the platform (public schema) only."
    ),
}
error_texts_register(TEXTS)
