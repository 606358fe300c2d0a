"""Stores and staff, and linking a staff member to a back-office login in one of the roles."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.errors import AppError

from .. import error_codes, roles
from ..models import SalesChannel, Staff, Store


def store_ensure(*, code: str, name: str, city: str = "", channel: str = SalesChannel.STORE) -> Store:
    """Create the store `code`, or update its name/city/channel. Idempotent."""
    code, name = (code or "").strip().upper(), (name or "").strip()
    if not code or len(code) > 32 or not name or len(name) > 100:
        raise AppError(
            error_codes.STORE_INVALID, "门店编码（≤32）和名称（≤100）不能为空。", fields={"code": ["invalid"]}
        )
    if channel not in SalesChannel.values:
        raise AppError(error_codes.STORE_INVALID, f"未知的渠道类型：{channel}", fields={"channel": ["invalid"]})
    with transaction.atomic():
        store, _ = Store.objects.update_or_create(
            code=code, defaults={"name": name, "city": (city or "").strip()[:50], "channel": channel}
        )
    return store


def staff_ensure(*, store: Store | None, name: str, wecom_userid: str = "") -> Staff:
    """The staff member with this WeCom user id (created or updated), or a new one without id."""
    name, wecom_userid = (name or "").strip(), (wecom_userid or "").strip()
    if not name or len(name) > 50 or len(wecom_userid) > 64:
        raise AppError(error_codes.STAFF_INVALID, "员工姓名不能为空（≤50）。", fields={"name": ["invalid"]})
    with transaction.atomic():
        if wecom_userid:
            staff, _ = Staff.objects.update_or_create(
                wecom_userid=wecom_userid, defaults={"store": store, "name": name}
            )
            return staff
        return Staff.objects.create(store=store, name=name)


def staff_login_link(*, staff: Staff, username: str, role: str, password: str | None = None) -> Any:
    """Give `staff` a back-office login in `role` (one of members.roles.ALL_ROLES): creates the
    user (with `password`) or links an existing one, and puts it in the role's group only.
    Store roles need a staff member with a store (scoping needs it: members/scoping.py)."""
    username = (username or "").strip().lower()
    if role not in roles.ALL_ROLES:
        raise AppError(error_codes.STAFF_INVALID, f"未知的角色：{role}", fields={"role": ["invalid"]})
    if role in roles.STORE_ROLES and staff.store_id is None:
        raise AppError(error_codes.STAFF_INVALID, "门店角色的员工必须属于一个门店。", fields={"store": ["required"]})
    if staff.status != Staff.Status.ACTIVE:
        raise AppError(error_codes.STAFF_INVALID, f"员工“{staff}”已离职。", fields={"staff": ["resigned"]})
    if not username:
        raise AppError(error_codes.STAFF_INVALID, "请填写登录账号。", fields={"username": ["required"]})
    user_model = get_user_model()
    existing = user_model.objects.filter(username=username).first()
    if existing is None and password is not None:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise AppError(error_codes.STAFF_INVALID, "密码不符合要求。", fields={"password": exc.messages}) from exc
    try:
        with transaction.atomic():
            user = existing or user_model.objects.create_user(username=username, email=username, password=password)
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            other = Staff.objects.filter(user=user).exclude(pk=staff.pk).first()
            if other is not None:
                raise AppError(
                    error_codes.STAFF_INVALID, f"账号 {username} 已关联员工“{other}”。", fields={"username": ["taken"]}
                )
            user.groups.remove(*Group.objects.filter(name__in=roles.ALL_ROLES).exclude(name=role))
            user.groups.add(Group.objects.get(name=role))
            if staff.user_id != user.pk:
                staff.user = user
                staff.save(update_fields=["user", "updated_at"])
    except IntegrityError as exc:
        raise AppError(error_codes.STAFF_INVALID, "该账号正被同时关联，请重试。") from exc
    return user


def staff_resign_in_transaction(*, staff: Staff) -> Staff:
    """Mark `staff` resigned (once) and deactivate their login: a resigned employee keeps no
    access. Locks the staff row, inside the caller's transaction (wecom/transfers.py hands their
    members over in the same one); returns the locked row."""
    locked = Staff.objects.select_for_update().get(pk=staff.pk)
    if locked.status != Staff.Status.RESIGNED:
        locked.status = Staff.Status.RESIGNED
        locked.resigned_at = timezone.now()
        locked.save(update_fields=["status", "resigned_at", "updated_at"])
    if locked.user_id is not None:
        get_user_model().objects.filter(pk=locked.user_id).update(is_active=False)
    return locked
