"""Stable error codes of the store workbench, with their text in both languages. The pages show
the Chinese; the codes are what the tests and any later API match on. Codes raised by the
services the workbench calls (members, consent) keep their own codes and texts."""

from crm.errors import ErrorText, error_texts_register

AMOUNT_INVALID = "workbench_amount_invalid"  # an amount in yuan that is not a positive number with ≤ 2 decimals
NO_STORE = "workbench_no_store"  # the login has no store: offline orders and enrolment need one
NO_STAFF = "workbench_no_staff"  # the login is linked to no active staff member
ORDER_DUPLICATE = "workbench_order_duplicate"  # the order number was recorded before: nothing changed
MOBILE_TAKEN = "workbench_mobile_taken"  # the customer's mobile already belongs to a member
LOGIN_INVALID = "workbench_login_invalid"  # the staff-login form (username, role, store)

TEXTS: dict[str, ErrorText] = {
    AMOUNT_INVALID: ErrorText(
        "请输入大于 0 的金额（元，最多两位小数）。", "Enter an amount in yuan above 0 (≤ 2 decimals)."
    ),
    NO_STORE: ErrorText("您的账号未关联门店，不能办理门店业务。", "Your login belongs to no store."),
    NO_STAFF: ErrorText(
        "您的账号未关联在职员工，请联系品牌管理员。", "Your login is linked to no active staff member."
    ),
    ORDER_DUPLICATE: ErrorText(
        "订单号 {order_no} 已录入过，本次未重复记账。", "Order {order_no} was recorded before; nothing was changed."
    ),
    MOBILE_TAKEN: ErrorText(
        "该手机号已是本品牌会员，请向导购出示会员码或报手机尾号。",
        "This mobile number already belongs to a member; tell the staff its last four digits.",
    ),
    LOGIN_INVALID: ErrorText("员工账号信息有误：{detail}", "The staff login is invalid: {detail}"),
}
error_texts_register(TEXTS)
