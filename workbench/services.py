"""Writes of the store workbench. Each is one service call of the app that owns the data, in one
transaction, safe to repeat: the workbench adds the store preset from the login, the amount in
yuan, and the words; the rules stay where they are (order_post, member_enroll, the consent
session, staff_login_link).
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from consent import error_codes as consent_codes
from consent.models import ConsentSession
from consent.services.sessions import consent_session_open, consent_session_submit
from consent.types import GuardianConsent
from crm.db import connection
from crm.errors import AppError, Conflict
from members import error_codes as member_codes
from members import roles
from members.models import IdentityKind, Member, SalesChannel, Staff, Store
from members.phones import mobile_normalize
from members.scoping import user_scope
from members.services.actors import actor_name
from members.services.members import member_enroll
from members.services.orders import OrderLineInput, OrderResult, order_post
from members.services.stores import staff_ensure, staff_login_link

from . import error_codes


def _refuse(code: str, **values: str) -> AppError:
    return AppError(code, error_codes.TEXTS[code].zh.format(**values))


@dataclass(frozen=True)
class Desk:
    """Who is at the counter: the login's active staff member and store (None for HQ users)."""

    staff: Staff | None
    store: Store | None


def desk_for(user: Any) -> Desk:
    scope = user_scope(user)
    if scope.staff_id is None:
        return Desk(staff=None, store=None)
    staff = Staff.objects.select_related("store").get(pk=scope.staff_id)
    return Desk(staff=staff, store=staff.store)


# --- offline orders (门店补录订单) -----------------------------------------------------------------


@dataclass(frozen=True)
class OfflineOrder:
    result: OrderResult
    duplicate: bool


def offline_order_record(
    *,
    user: Any,
    order_no: str,
    amount_fen: int,
    paid_at: dt.datetime | None = None,
    mobile: str = "",
    member: Member | None = None,
    lines: tuple[OrderLineInput, ...] = (),
) -> OfflineOrder:
    """An order paid at the user's store, through the same `order_post` as the POS and the API
    (channel 线下门店, the store and staff preset from the login). The buyer is a mobile number
    (a tourist if no member has it) or a member the caller already scoped. Recording the same
    order number again changes nothing (`duplicate`); with another amount it is refused."""
    desk = desk_for(user)
    if desk.store is None:
        raise _refuse(error_codes.NO_STORE)
    buyer_kind = buyer_value = ""
    if member is not None and member.mobile:
        buyer_kind, buyer_value = IdentityKind.MOBILE, member.mobile
    elif member is not None:
        identity = member.identities.order_by("pk").first()
        if identity is not None:
            buyer_kind, buyer_value = identity.kind, identity.value
    elif mobile.strip():
        buyer_kind, buyer_value = IdentityKind.MOBILE, mobile_normalize(mobile)
    result = order_post(
        channel=SalesChannel.STORE,
        order_no=order_no,
        paid_at=paid_at or timezone.now(),
        amount_fen=amount_fen,
        store=desk.store,
        buyer_kind=buyer_kind or None,
        buyer_value=buyer_value or None,
        staff=desk.staff,
        lines=lines,
        actor=user,
    )
    return OfflineOrder(result=result, duplicate=not result.created)


# --- enrolment on the customer's phone ---------------------------------------------------------------


def enrol_session_start(*, user: Any) -> ConsentSession:
    """Staff action 1 of the in-store enrolment: a consent session for the customer's phone, with
    the staff member (and so the store) taken from the login."""
    desk = desk_for(user)
    if desk.staff is None:
        raise _refuse(error_codes.NO_STAFF)
    if desk.store is None:
        raise _refuse(error_codes.NO_STORE)
    return consent_session_open(staff_id=desk.staff.pk, actor=actor_name(user))


def enrol_by_customer(
    *,
    session: ConsentSession,
    mobile: str,
    name: str,
    birthday: dt.date | None,
    ticked: list[str],
    ip: str,
    user_agent: str,
    guardian: GuardianConsent | None = None,
) -> Member:
    """The customer, on their own phone, types their mobile and decides each purpose; in one
    transaction their decisions are recorded on the session and the member is enrolled from it
    (home store and exclusive staff: the session's staff member). Anything refused — a mobile that
    is already a member's, consent without membership, an expired code — rolls it all back, so
    the customer can correct and send again."""
    try:
        mobile = mobile_normalize(mobile)
        with transaction.atomic():
            consent_session_submit(
                session_id=session.pk, ticked=ticked, ip=ip, user_agent=user_agent, guardian=guardian
            )
            staff = Staff.objects.select_related("store").get(pk=session.staff_id)
            try:
                return _enrol(session=session, staff=staff, mobile=mobile, name=name, birthday=birthday)
            except Conflict as exc:
                if exc.code == member_codes.MEMBER_ALREADY_ENROLLED:
                    # Not the member number: whoever holds the phone learns only that it is taken.
                    raise _refuse(error_codes.MOBILE_TAKEN) from exc
                raise
    except AppError as refused:
        # After the rollback: the staff screen (which polls) says why, in the staff's words.
        enrol_refusal_note(session=session, error=refused, mobile=mobile)
        raise


# The staff screen's words for why the customer's submission was refused (the customer's phone
# shows the service's own message). Keyed by the error code; anything else: the message itself.
_STAFF_REFUSAL_WORDS = {
    error_codes.MOBILE_TAKEN: "顾客填写的手机号{last4}已是本品牌会员，无需重复入会：请在工作台按手机尾号查找该会员。",
    consent_codes.CONSENT_MEMBERSHIP_REQUIRED: "顾客未勾选“会员服务”授权，不能入会（其他授权可不选）。",
    consent_codes.CONSENT_GUARDIAN_REQUIRED: "顾客未满 14 周岁，需由监护人在手机上填写姓名与关系并同意。",
    member_codes.MOBILE_INVALID: "顾客填写的手机号格式不正确。",
    consent_codes.CONSENT_SESSION_EXPIRED: "二维码已过期，请重新发起入会。",
}
ENROL_REFUSAL_SECONDS = 30 * 60  # as long as the QR link lives


def _refusal_key(session: ConsentSession) -> str:
    # The nonce: a session id of another database (tests, a restored copy) never reads this note.
    return f"workbench:enrol-refused:{connection.schema_name}:{session.pk}:{session.nonce}"


def enrol_refusal_note(*, session: ConsentSession, error: AppError, mobile: str = "") -> None:
    """Remember the customer's last refused submission for the staff screen (in the cache: the
    refusal wrote nothing, and the next submission may well succeed)."""
    digits = "".join(ch for ch in mobile if ch.isdigit())
    last4 = f"（尾号 {digits[-4:]}）" if error.code == error_codes.MOBILE_TAKEN and len(digits) >= 4 else ""
    words = _STAFF_REFUSAL_WORDS.get(error.code, "顾客提交的信息有误：{message}")
    text = words.format(last4=last4, message=error.message)
    cache.set(_refusal_key(session), {"text": text, "at": timezone.now().isoformat()}, ENROL_REFUSAL_SECONDS)


def enrol_refusal_read(*, session: ConsentSession) -> tuple[str, dt.datetime] | None:
    """The last refusal's words and when it happened, or None."""
    note = cache.get(_refusal_key(session))
    if not note:
        return None
    return str(note["text"]), dt.datetime.fromisoformat(note["at"])


def _enrol(*, session: ConsentSession, staff: Staff, mobile: str, name: str, birthday: dt.date | None) -> Member:
    return member_enroll(
        name=name,
        mobile=mobile,
        birthday=birthday,
        home_store=staff.store,
        staff=staff,
        consent_session_id=session.pk,
        channel=SalesChannel.STORE,
        source="workbench_qr",
        actor=f"顾客本人（导购 {staff.name}）",
    )


# --- staff logins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffLogin:
    staff: Staff
    user: Any
    created: bool
    password_path: str  # the one-time link to set a password ("" for an existing login)


def password_set_path(user: Any) -> str:
    """A one-time link (Django's password-reset token): it stops working once the password is set,
    after PASSWORD_RESET_TIMEOUT, or when the login is disabled."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("workbench:password_set", args=[uid, default_token_generator.make_token(user)])


def staff_login_create(
    *,
    username: str,
    role: str,
    staff: Staff | None = None,
    staff_name: str = "",
    store: Store | None = None,
    actor: Any,
) -> StaffLogin:
    """One form, one transaction: the staff member (an existing one, or a new one by name at
    `store`), their login (new, without a password, or an existing one linked) and their role.
    A new login gets a one-time link to set its own password."""
    username = (username or "").strip().lower()
    if role not in roles.ALL_ROLES:
        raise _refuse(error_codes.LOGIN_INVALID, detail="请选择角色。")
    with transaction.atomic():
        if staff is None:
            if not staff_name.strip():
                raise _refuse(error_codes.LOGIN_INVALID, detail="请选择员工或填写新员工姓名。")
            staff = staff_ensure(store=store, name=staff_name.strip())
        elif store is not None and staff.store_id != store.pk:
            staff.store = store
            staff.save(update_fields=["store", "updated_at"])
        existed = get_user_model().objects.filter(username=username).exists()
        user = staff_login_link(staff=staff, username=username, role=role, password=None)
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
    return StaffLogin(
        staff=staff,
        user=user,
        created=not existed,
        password_path="" if existed and user.has_usable_password() else password_set_path(user),
    )


def staff_login_disable(*, staff: Staff, actor: Any) -> bool:
    """The staff member's login can no longer sign in (sessions end at their next request: Django
    refuses an inactive user). The staff record and their members stay. False if already off."""
    if staff.user_id is None:
        return False
    user_model = get_user_model()
    return bool(user_model.objects.filter(pk=staff.user_id, is_active=True).update(is_active=False))
