"""Stable codes of consent errors (API `code`, admin messages), with their text in both languages."""

from crm.errors import ErrorText, error_texts_register

CONSENT_MEMBERSHIP_REQUIRED = "consent_membership_required"
CONSENT_VERSION_NOT_CURRENT = "consent_version_not_current"
CONSENT_PURPOSE_NOT_IN_VERSION = "consent_purpose_not_in_version"
CONSENT_DUPLICATE_PURPOSE = "consent_duplicate_purpose"
CONSENT_GUARDIAN_REQUIRED = "consent_guardian_required"
CONSENT_EVIDENCE_MISSING = "consent_evidence_missing"
CONSENT_UNKNOWN_PURPOSE = "consent_unknown_purpose"
CONSENT_NO_CURRENT_VERSION = "consent_no_current_version"
CONSENT_MEMBER_NOT_ACTIVE = "consent_member_not_active"
CONSENT_VERSION_PUBLISHED = "consent_version_published"
CONSENT_VERSION_INVALID = "consent_version_invalid"
CONSENT_LINK_INVALID = "consent_link_invalid"
CONSENT_LINK_EXPIRED = "consent_link_expired"
CONSENT_SESSION_CLOSED = "consent_session_closed"
CONSENT_SESSION_EXPIRED = "consent_session_expired"
DATA_REQUEST_INVALID = "data_request_invalid"
DATA_REQUEST_CLOSED = "data_request_closed"
DATA_REQUEST_REFUSAL_REASON_REQUIRED = "data_request_refusal_reason_required"
MEMBER_ERASED = "member_erased"
PI_ACCESS_INVALID = "pi_access_invalid"
EXPORT_LOCKED = "export_locked"
EXPORT_MOBILE_WRONG = "export_mobile_wrong"
# A version whose text still has a 【…】 template blank cannot be published (PIPL art. 17: the
# agreement names the processor and its contact).
CONSENT_AGREEMENT_PLACEHOLDERS = "consent_agreement_placeholders"
# Enrolment refused: the brand has no complete membership agreement in force (none published, or
# the one in force still has template blanks). Nothing is written.
CONSENT_MEMBERSHIP_AGREEMENT_INCOMPLETE = "consent_membership_agreement_incomplete"
AGREEMENT_NOT_FOUND = "agreement_not_found"
AGREEMENT_VERSION_NOT_FOUND = "agreement_version_not_found"
DATA_REQUEST_NOT_FOUND = "data_request_not_found"
CONSENT_SESSION_NOT_FOUND = "consent_session_not_found"
CONSENT_ACTION_INVALID = "consent_action_invalid"  # a consent page posted an action it does not offer
EXPORT_NEEDS_STORE = "export_needs_store"  # a store role without a store cannot export
MEMBER_NOT_FOUND = "member_not_found"  # the same code as members' (consent sits beside members)

TEXTS: dict[str, ErrorText] = {
    CONSENT_MEMBERSHIP_REQUIRED: ErrorText(
        "入会须同意会员协议与隐私政策。", "Joining requires agreeing to the membership agreement and privacy policy."
    ),
    CONSENT_VERSION_NOT_CURRENT: ErrorText(
        "所同意的协议版本已不是现行版本，请刷新后重新确认。",
        "The agreement version is no longer the current one; reload and agree again.",
    ),
    CONSENT_PURPOSE_NOT_IN_VERSION: ErrorText(
        "该协议版本不包含这一授权用途。", "This agreement version does not cover that purpose."
    ),
    CONSENT_DUPLICATE_PURPOSE: ErrorText("同一授权用途只能出现一次。", "A purpose may appear only once."),
    CONSENT_GUARDIAN_REQUIRED: ErrorText(
        "未满 14 周岁的会员须由监护人同意。", "A member under 14 needs a guardian's consent."
    ),
    CONSENT_EVIDENCE_MISSING: ErrorText(
        "缺少授权凭证（渠道、时间与操作记录）。", "The consent evidence (channel, time, record) is missing."
    ),
    CONSENT_UNKNOWN_PURPOSE: ErrorText("未知的授权用途。", "Unknown consent purpose."),
    CONSENT_NO_CURRENT_VERSION: ErrorText(
        "本品牌尚未发布现行协议版本。", "The brand has no agreement version in force."
    ),
    CONSENT_MEMBER_NOT_ACTIVE: ErrorText(
        "会员已冻结、注销或合并，不能变更授权。", "The member is frozen, erased or merged; consent cannot change."
    ),
    CONSENT_VERSION_PUBLISHED: ErrorText(
        "已发布的协议版本不能修改，请新建版本。", "A published version cannot change; create a new version."
    ),
    CONSENT_VERSION_INVALID: ErrorText("协议版本信息有误。", "The agreement version is invalid."),
    CONSENT_LINK_INVALID: ErrorText("链接无效。", "The link is not valid."),
    CONSENT_LINK_EXPIRED: ErrorText("链接已过期，请重新获取。", "The link has expired; ask for a new one."),
    CONSENT_SESSION_CLOSED: ErrorText("本次入会流程已结束。", "This enrolment session has ended."),
    CONSENT_SESSION_EXPIRED: ErrorText(
        "入会二维码已过期，请让店员重新生成。", "The enrolment code has expired; ask the staff for a new one."
    ),
    DATA_REQUEST_INVALID: ErrorText("个人信息申请有误。", "The data request is invalid."),
    DATA_REQUEST_CLOSED: ErrorText("该申请已处理完毕。", "The request has been closed already."),
    DATA_REQUEST_REFUSAL_REASON_REQUIRED: ErrorText("拒绝申请须写明理由。", "Refusing a request needs a reason."),
    MEMBER_ERASED: ErrorText("该会员的个人信息已删除。", "The member's personal data has been erased."),
    PI_ACCESS_INVALID: ErrorText("查看个人信息须写明理由。", "Viewing personal data needs a reason."),
    EXPORT_LOCKED: ErrorText("手机号输错次数过多，请稍后再试。", "Too many wrong mobile numbers; try again later."),
    EXPORT_MOBILE_WRONG: ErrorText("手机号不正确。", "The mobile number is wrong."),
    CONSENT_AGREEMENT_PLACEHOLDERS: ErrorText(
        "协议正文仍有待填写的占位内容：{placeholders}。请改为实际内容（如品牌名称、联系地址、个人信息保护联系方式）后再发布。",
        "The agreement text still contains template blanks: {placeholders}. Replace them with the real "
        "details (brand name, address, personal-information contact) before publishing.",
    ),
    CONSENT_MEMBERSHIP_AGREEMENT_INCOMPLETE: ErrorText(
        "本品牌尚未发布完整的会员协议与隐私政策（须写明品牌名称、联系地址和个人信息保护联系方式），"
        "暂不能办理入会。请品牌管理员在后台“协议版本”中补全会员协议并发布。",
        "The brand has not published a complete membership agreement and privacy policy (naming the brand, "
        "its address and its personal-information contact), so members cannot be enrolled yet. A brand "
        "administrator must complete and publish it in the back office (agreement versions).",
    ),
    AGREEMENT_NOT_FOUND: ErrorText("协议不存在。", "The agreement does not exist."),
    AGREEMENT_VERSION_NOT_FOUND: ErrorText("协议版本不存在。", "The agreement version does not exist."),
    DATA_REQUEST_NOT_FOUND: ErrorText("申请不存在。", "The data request does not exist."),
    CONSENT_SESSION_NOT_FOUND: ErrorText("入会流程不存在。", "The enrolment session does not exist."),
    CONSENT_ACTION_INVALID: ErrorText("无法识别的操作。", "Unknown action."),
    EXPORT_NEEDS_STORE: ErrorText(
        "您的账号未关联门店，不能导出会员。", "Your login belongs to no store, so it cannot export members."
    ),
    MEMBER_NOT_FOUND: ErrorText("会员不存在。", "The member does not exist."),
}
error_texts_register(TEXTS)
