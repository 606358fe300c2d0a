"""Store scoping: which members (and stores, staff, orders, ledger...) a back-office user may see.

The rule, in one place:

- A user with `members.view_all_stores` (the 品牌管理员 and 总部营销 roles) or a superuser sees
  every member of the brand.
- Everyone else is a store user: they see a member when the member's **home store is their
  store**, or the member's **assigned staff (专属导购) works at their store**. Their store is the
  store of the active `Staff` row linked to their login. A store user without such a row (not
  linked yet, resigned, or HQ staff without a store) sees no member at all: scoping fails closed.
- Merged and erased members follow the same rule (they stay visible as history).

Admin classes get this by inheriting `StoreScopedAdminMixin` and naming the path from their model
to the member (`scope_member_path = "member"`) and/or to a store (`scope_store_path = "store"`):
lists, search, autocomplete (it uses the target admin's queryset), the change/delete views (an
object outside the scope is a 404), actions, exports and foreign-key choices all go through
`get_queryset`/`formfield_for_foreignkey` below. A system check (`members.E001`) refuses to start
when an admin of a model pointing at Member is registered on the brand site without the mixin.
Code outside the admin calls `scope_members(queryset, user)`.
"""

from dataclasses import dataclass
from typing import Any, cast

from django.core import checks
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from .models import Member, Staff, Store

VIEW_ALL_STORES = "members.view_all_stores"
_CACHE_ATTR = "_members_store_scope"
_STAFF_CACHE_ATTR = "_members_store_staff_ids"


@dataclass(frozen=True)
class StoreScope:
    all_stores: bool
    store_id: int | None = None
    staff_id: int | None = None

    @property
    def sees_nothing(self) -> bool:
        return not self.all_stores and self.store_id is None


def user_scope(user: Any) -> StoreScope:
    """The scope of a logged-in user, computed once per request (cached on the user object)."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if user is None or not user.is_authenticated or not user.is_active:
        scope = StoreScope(all_stores=False)
    elif user.is_superuser or user.has_perm(VIEW_ALL_STORES):
        staff = Staff.objects.filter(user=user, status=Staff.Status.ACTIVE).values("pk", "store_id").first()
        scope = StoreScope(all_stores=True, staff_id=staff["pk"] if staff else None)
    else:
        staff = Staff.objects.filter(user=user, status=Staff.Status.ACTIVE).values("pk", "store_id").first()
        scope = StoreScope(
            all_stores=False,
            store_id=staff["store_id"] if staff else None,
            staff_id=staff["pk"] if staff else None,
        )
    setattr(user, _CACHE_ATTR, scope)
    return scope


def _prefix(path: str) -> str:
    return f"{path}__" if path else ""


def member_scope_q(user: Any, *, member_path: str = "") -> Q | None:
    """The filter on `member_path` for this user; None means "no restriction"."""
    scope = user_scope(user)
    if scope.all_stores:
        return None
    if scope.store_id is None:
        return Q(pk__in=[])
    p = _prefix(member_path)
    # The store's staff as a list of ids on the member's own column, not a join through staff (nor
    # a subquery, which PostgreSQL runs as a filter): the same rule, but the planner ORs the two
    # member indexes (home_store_id, assigned_staff_id) and reads the store's members only,
    # instead of scanning every member of the brand (bench/workbench_pages.py: 1.4 s → ms).
    store_staff = _store_staff_ids(user, scope.store_id)
    return Q(**{f"{p}home_store_id": scope.store_id}) | Q(**{f"{p}assigned_staff_id__in": store_staff})


def _store_staff_ids(user: Any, store_id: int) -> list[int]:
    """Every staff member (in post or not: members keep a resigned owner until reassigned) of the
    store, once per request (cached on the user object, like the scope)."""
    cached = getattr(user, _STAFF_CACHE_ATTR, None)
    if cached is None or cached[0] != store_id:
        cached = (store_id, list(Staff.objects.filter(store_id=store_id).order_by().values_list("pk", flat=True)))
        setattr(user, _STAFF_CACHE_ATTR, cached)
    return cached[1]


def store_scope_q(user: Any, *, store_path: str = "") -> Q | None:
    scope = user_scope(user)
    if scope.all_stores:
        return None
    if scope.store_id is None:
        return Q(pk__in=[])
    return Q(**{f"{_prefix(store_path)}pk": scope.store_id})


def scope_members(queryset: QuerySet, user: Any, *, member_path: str = "") -> QuerySet:
    """`queryset` limited to what `user` may see; `member_path` leads from its model to Member
    ("" for Member itself, "member" for Identity, Order, PointsEntry...)."""
    q = member_scope_q(user, member_path=member_path)
    return queryset if q is None else queryset.filter(q)


def scope_stores(queryset: QuerySet, user: Any, *, store_path: str = "") -> QuerySet:
    q = store_scope_q(user, store_path=store_path)
    return queryset if q is None else queryset.filter(q)


def member_in_scope(member: Member, user: Any) -> bool:
    scope = user_scope(user)
    if scope.all_stores:
        return True
    if scope.store_id is None:
        return False
    if member.home_store_id == scope.store_id:
        return True
    if member.assigned_staff_id is None:
        return False  # no assigned staff, so none at my store
    return Staff.objects.filter(pk=member.assigned_staff_id, store_id=scope.store_id).exists()


class StoreScopedAdminMixin:
    """Mixin for brand-admin ModelAdmins of anything that belongs to a member or a store.

    Hooks (set at least one):
    - `scope_member_path`: path from the model to Member ("" = the model is Member);
    - `scope_store_path`: path from the model to Store ("" = the model is Store).
    With both set, a row is visible when either matches (an order placed at my store, or an
    order of one of my store's members).
    """

    scope_member_path: str | None = None
    scope_store_path: str | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return self.scope_queryset(queryset, request.user)

    def scope_queryset(self, queryset: QuerySet, user: Any) -> QuerySet:
        conditions = []
        if self.scope_member_path is not None:
            conditions.append(member_scope_q(user, member_path=self.scope_member_path))
        if self.scope_store_path is not None:
            conditions.append(store_scope_q(user, store_path=self.scope_store_path))
        if not conditions:
            raise TypeError(f"{type(self).__name__} must set scope_member_path or scope_store_path")
        if any(condition is None for condition in conditions):
            return queryset  # brand-wide user
        restrictions = cast(list[Q], conditions)  # none is None: checked just above
        combined = restrictions[0]
        for condition in restrictions[1:]:
            combined |= condition
        return queryset.filter(combined)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Choices of a member/store/staff field never offer what the user may not see.
        related = db_field.related_model
        if "queryset" not in kwargs:
            if related is Member:
                kwargs["queryset"] = scope_members(Member.objects.all(), request.user)
            elif related is Store:
                kwargs["queryset"] = scope_stores(Store.objects.all(), request.user)
            elif related is Staff:
                kwargs["queryset"] = scope_stores(Staff.objects.all(), request.user, store_path="store")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


def check_member_admins_scoped(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """members.E001: a brand-admin ModelAdmin shows data that belongs to members, a store role
    may open it (members/roles.py), and it is not store-scoped — store staff would see every
    store's rows. Admins only brand-wide roles can open (campaigns, PI access log) may stay
    unscoped; granting a store role access to them later makes this check fail."""
    from crm.admin_sites import brand_admin

    from .roles import ROLE_PERMISSIONS, STORE_ROLES

    store_specs = {spec for role in STORE_ROLES for spec in ROLE_PERMISSIONS[role]}
    errors: list[checks.CheckMessage] = []
    for model, model_admin in brand_admin._registry.items():
        if isinstance(model_admin, StoreScopedAdminMixin):
            continue
        belongs_to_member = model is Member or any(
            field.is_relation and field.related_model is Member for field in model._meta.concrete_fields
        )
        label, name = model._meta.app_label, model._meta.model_name
        store_can_open = f"{label}.*" in store_specs or any(
            f"{label}.{action}_{name}" in store_specs for action in ("view", "add", "change", "delete")
        )
        if belongs_to_member and store_can_open:
            errors.append(
                checks.Error(
                    f"{type(model_admin).__name__} shows {model._meta.label} (it belongs to a member) to store "
                    "roles without store scoping.",
                    hint="Inherit members.scoping.StoreScopedAdminMixin and set scope_member_path.",
                    obj=type(model_admin),
                    id="members.E001",
                )
            )
    return errors
