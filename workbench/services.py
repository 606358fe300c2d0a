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
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from consent.models import ConsentSession
from consent.services.sessions import consent_session_open, consent_session_submit
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
) -> Member:
    """The customer, on their own phone, types their mobile and decides each purpose; in one
    transaction their decisions are recorded on the session and the member is enrolled from it
    (home store and exclusive staff: the session's staff member). Anything refused — a mobile that
    is already a member's, consent without membership, an expired code — rolls it all back, so
    the customer can correct and send again."""
    mobile = mobile_normalize(mobile)
    with transaction.atomic():
        consent_session_submit(session_id=session.pk, ticked=ticked, ip=ip, user_agent=user_agent)
        staff = Staff.objects.select_related("store").get(pk=session.staff_id)
        try:
            return _enrol(session=session, staff=staff, mobile=mobile, name=name, birthday=birthday)
        except Conflict as exc:
            if exc.code == member_codes.MEMBER_ALREADY_ENROLLED:
                # Not the member number: whoever holds the phone learns only that it is taken.
                raise _refuse(error_codes.MOBILE_TAKEN) from exc
            raise


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
