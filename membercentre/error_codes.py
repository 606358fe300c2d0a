"""Stable machine-readable error codes of the member centre, each with its text in both languages
the product speaks. Partners match on the code; never rename one."""

from crm.errors import AppError, ErrorText, error_texts_register

MEMBER_CODE_INVALID = "member_code_invalid"  # malformed, unknown, or of another brand
MEMBER_CODE_EXPIRED = "member_code_expired"
MEMBER_CODE_USED = "member_code_used"  # consumed already by something that moved value
MEMBER_CODE_THROTTLED = "member_code_throttled"  # too many wrong codes from this caller
MEMBER_NOT_ACTIVE = "member_centre_member_not_active"  # frozen, erased or merged
OTP_THROTTLED = "otp_throttled"
OTP_INVALID = "otp_invalid"
OTP_EXPIRED = "otp_expired"
OTP_LOCKED = "otp_locked"
MOBILE_INVALID = "member_centre_mobile_invalid"
WECHAT_NOT_CONFIGURED = "wechat_oauth_not_configured"
WECHAT_OAUTH_FAILED = "wechat_oauth_failed"
SIGNIN_STATE_INVALID = "signin_state_invalid"
MEMBER_TOKEN_INVALID = "member_token_invalid"  # noqa: S105 - an error code, not a secret
MINIPROGRAM_EVIDENCE_MISSING = "miniprogram_evidence_missing"
NOT_A_MEMBER = "not_a_member"
MOBILE_TAKEN = "member_centre_mobile_taken"  # the mobile's member is linked to another WeChat person
WECHAT_TAKEN = "member_centre_wechat_taken"  # this WeChat person is another member than the mobile's
BIND_NEEDS_WECHAT = "member_centre_bind_needs_wechat"
MINIPROGRAM_NOT_CONFIGURED = "miniprogram_not_configured"
PHONE_CODE_INVALID = "miniprogram_phone_code_invalid"
WECHAT_SECRET_REQUIRED = "wechat_secret_required"  # noqa: S105 - a code; the brand's WeChat settings without the AppSecret
MEMBER_FROZEN = "member_frozen"

TEXTS: dict[str, ErrorText] = {
    MEMBER_CODE_INVALID: ErrorText(
        "会员码无效，请让顾客刷新会员码后重新出示。",
        "The member code is not valid; ask for a fresh one.",
    ),
    MEMBER_CODE_EXPIRED: ErrorText(
        "会员码已过期，请让顾客刷新后重新出示。",
        "The member code has expired; ask for a fresh one.",
    ),
    MEMBER_CODE_USED: ErrorText(
        "该会员码已使用过，请让顾客刷新后重新出示。",
        "The member code was used already; ask for a fresh one.",
    ),
    MEMBER_CODE_THROTTLED: ErrorText(
        "会员码错误次数过多，请 {wait} 秒后再试。",
        "Too many wrong member codes; retry in {wait} s.",
    ),
    MEMBER_NOT_ACTIVE: ErrorText("该会员当前不可用（已冻结、注销或合并）。", "The member is frozen, erased or merged."),
    OTP_THROTTLED: ErrorText(
        "验证码发送过于频繁，请 {wait} 秒后再试。", "Too many codes requested; retry in {wait} s."
    ),
    OTP_INVALID: ErrorText("验证码不正确。", "The verification code is wrong."),
    OTP_EXPIRED: ErrorText("验证码已过期，请重新获取。", "The verification code has expired; request a new one."),
    OTP_LOCKED: ErrorText("验证码错误次数过多，请重新获取。", "Too many wrong codes; request a new one."),
    MOBILE_INVALID: ErrorText("请输入正确的手机号。", "Enter a valid mobile number."),
    WECHAT_NOT_CONFIGURED: ErrorText(
        "本品牌尚未开通微信登录，请使用手机验证码登录。", "WeChat sign-in is not set up; use SMS."
    ),
    WECHAT_OAUTH_FAILED: ErrorText(
        "微信授权失败，请重试或使用手机验证码登录。",
        "WeChat authorisation failed; retry or use SMS.",
    ),
    SIGNIN_STATE_INVALID: ErrorText("登录已失效，请重新登录。", "The sign-in expired; sign in again."),
    MEMBER_TOKEN_INVALID: ErrorText("会员令牌无效或已过期。", "The member token is invalid or expired."),
    MINIPROGRAM_EVIDENCE_MISSING: ErrorText(
        "请提供小程序登录凭证（code2session 的结果与请求编号）。",
        "Send the mini-program's code2session result and its request id as evidence.",
    ),
    NOT_A_MEMBER: ErrorText("尚未入会。", "Not a member yet."),
    MOBILE_TAKEN: ErrorText(
        "该手机号已是另一位会员的账号，并已绑定其他微信，不能绑定到当前微信。请用原来的微信登录，或联系客服。",
        "This mobile belongs to a member linked to another WeChat user; it cannot be bound here.",
    ),
    WECHAT_TAKEN: ErrorText(
        "当前微信已绑定另一位会员，不能再绑定这个手机号。如两个账号都是您本人的，请联系客服合并。",
        "This WeChat user is linked to another member than the mobile's; ask support to merge.",
    ),
    BIND_NEEDS_WECHAT: ErrorText("请先通过微信登录，再绑定手机号。", "Sign in with WeChat before binding a mobile."),
    MINIPROGRAM_NOT_CONFIGURED: ErrorText(
        "本品牌尚未配置小程序，无法获取手机号。",
        "The brand's mini-program is not configured; the phone number cannot be fetched.",
    ),
    PHONE_CODE_INVALID: ErrorText(
        "获取手机号失败，请在小程序中重新授权手机号。",
        "The getPhoneNumber code was refused by WeChat; ask the user to authorise again.",
    ),
    WECHAT_SECRET_REQUIRED: ErrorText("请填写公众号 AppSecret。", "Enter the official account's AppSecret."),
    MEMBER_FROZEN: ErrorText(
        "您的会员账户已冻结，请联系门店或客服。", "Your membership is frozen; contact a store or customer service."
    ),
}
error_texts_register(TEXTS)


def text(code: str, **params: object) -> str:
    return str(TEXTS[code]).format(**params)


def error(code: str, *, status: int = 400, **params: object) -> AppError:
    """An AppError of this app with its text in the active language."""
    return AppError(code, text(code, **params), status=status, extra=dict(params))
