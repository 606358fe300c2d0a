"""The four roles of a brand's back office, as Django groups, and the permissions each needs.

- 品牌管理员 (brand admin): everything; configures tiers, points, agreements, WeCom, users, API keys.
- 总部营销 (HQ marketer): all stores' members with masked PI, tags, campaigns, consent read-only.
- 门店店长 (store manager): their store's members with full PI; enrol, tag, freeze, import,
  record purchases, redeem.
- 门店导购 (store staff): their store's members with masked PI; enrol, tag, record purchases, redeem.

Store scoping itself is not a permission: it is members/scoping.py, applied to every user who
lacks `members.view_all_stores`.

`roles_sync` creates the groups and ADDS the listed permissions (it never removes any: a brand
admin who gives a role more rights keeps them). It runs from a data migration — so the
`brand_template` schema, and therefore every brand cloned from it, has the groups — and again
after every `migrate` (members/apps.py), because permissions of models that other apps add later
only exist once their migrations ran.
"""

from collections.abc import Callable, Iterable
from typing import Any

BRAND_ADMIN = "品牌管理员"
HQ_MARKETER = "总部营销"
STORE_MANAGER = "门店店长"
STORE_STAFF = "门店导购"
STORE_ROLES = (STORE_MANAGER, STORE_STAFF)
ALL_ROLES = (BRAND_ADMIN, HQ_MARKETER, STORE_MANAGER, STORE_STAFF)

# The limited roles' field prefixes in a brand's caps settings (`<field>_<prefix>_<kind>`, e.g.
# LoyaltyProgram.adjust_staff_per_entry, CouponSettings.issue_manager_per_member_day). Brand admins
# have none: they are unlimited.
LIMITED_ROLE_PREFIX: dict[str, str] = {HQ_MARKETER: "hq", STORE_MANAGER: "manager", STORE_STAFF: "staff"}


def role_caps(
    *, user: Any, unlimited_permission: str, caps_settings: Callable[[], Any], field: str, kinds: Iterable[str]
) -> dict[str, int | None] | None:
    """A user's caps of one kind of hand-made change (points adjustments, coupons issued by hand):
    None when unlimited (a brand admin, or the permission), {} when none of the limited roles is
    theirs (not allowed), else for each kind the most generous cap of their roles (None = that
    role has no such cap). `caps_settings` is read only for a limited user."""
    if user.has_perm(unlimited_permission):  # superusers have every permission
        return None
    groups = set(user.groups.values_list("name", flat=True))
    if BRAND_ADMIN in groups:
        return None
    prefixes = [prefix for role, prefix in LIMITED_ROLE_PREFIX.items() if role in groups]
    if not prefixes:
        return {}
    settings = caps_settings()

    def most_generous(kind: str) -> int | None:
        values: list[int | None] = [getattr(settings, f"{field}_{prefix}_{kind}") for prefix in prefixes]
        return None if None in values else max(value for value in values if value is not None)

    return {kind: most_generous(kind) for kind in kinds}


# "app_label.*" = every permission of that app; "app_label.codename" = one permission. Entries
# naming a permission that does not exist (yet) are skipped.
_STORE_COMMON = [
    "members.view_member",
    "members.add_member",
    "members.change_member",
    "members.view_identity",
    "members.add_identity",
    "members.view_tag",
    "members.view_membertag",
    "members.add_membertag",
    "members.delete_membertag",
    "members.view_memberassignment",
    "members.view_membermerge",
    "members.view_store",
    "members.view_staff",
    "members.view_tier",
    "members.view_tierchange",
    "members.view_pointsentry",
    "members.view_pointslot",
    # Their own store's adjustments held for approval (store-scoped), to see what became of them.
    "members.view_pointsadjustrequest",
    "members.view_reward",
    "members.view_redemption",
    "members.add_redemption",
    "members.view_order",
    "members.add_order",
    "members.view_refund",
    # In-store consent on the customer's phone: sessions are store-scoped in the consent admin.
    "consent.view_consentsession",
    "consent.add_consentsession",
    "consent.change_consentsession",
    # Coupons at the counter (workbench 核销): their coupons and write-offs are store-scoped.
    "coupons.view_coupon",
    "coupons.view_couponredemption",
    "coupons.add_couponredemption",
    # Coupons handed out by hand (发放给会员) to their store's members, within the daily caps of
    # coupons/manual_issue.py; past them the issue waits for a brand admin. Their own requests.
    "coupons.view_coupontemplate",
    "coupons.add_coupon",
    "coupons.view_couponissuerequest",
    # Not consent.view_consentrecord: the consent admin is not store-scoped yet, so store roles
    # would see every store's consent records (members.E001 refuses that). Add it back once
    # consent's admins inherit members.scoping.StoreScopedAdminMixin.
]

# HQ marketers run coupons, but neither decide the held manual issues nor set the caps that
# hold them (coupons.approve_couponissuerequest, coupons.change_couponsettings): brand admins do.
_COUPONS_HQ = [
    f"coupons.{action}_{model}"
    for model in ("coupontemplate", "couponcode", "coupon", "couponevent", "couponholding", "couponredemption")
    for action in ("view", "add", "change", "delete")
] + [
    "coupons.view_couponissuerequest",
    "coupons.view_couponpooljob",
    "coupons.add_couponpooljob",
    "coupons.view_couponsettings",
    "coupons.view_couponreminder",
]

# Staff performance (performance/): the report, its exports, each order's credit and the touches.
_PERFORMANCE_READ = [
    "performance.view_attribution",
    "performance.view_touch",
    "performance.view_attributionrule",
    "performance.view_reportexport",
    "performance.add_reportexport",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    BRAND_ADMIN: [
        "members.*",
        "consent.*",
        "campaigns.*",
        "engagement.*",
        "coupons.*",
        "api.*",
        "webhooks.*",
        "wecom.*",
        "scancodes.*",
        "performance.*",
        "jobs.view_jobrun",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
    ],
    HQ_MARKETER: [
        "members.view_all_stores",
        "members.export_members",
        "members.view_member",
        "members.change_member",
        "members.view_identity",
        "members.view_store",
        "members.view_staff",
        "members.view_tag",
        "members.add_tag",
        "members.change_tag",
        "members.view_membertag",
        "members.add_membertag",
        "members.delete_membertag",
        "members.view_memberassignment",
        "members.view_membermerge",
        "members.view_tier",
        "members.view_tierchange",
        "members.view_loyaltyprogram",
        "members.view_pointsentry",
        "members.view_pointsadjustrequest",
        "members.view_reward",
        "members.view_redemption",
        "members.view_order",
        "members.view_refund",
        "members.view_captureratedaily",
        "campaigns.*",
        *_COUPONS_HQ,
        "scancodes.*",
        "consent.view_agreement",
        "consent.view_agreementversion",
        "consent.view_consentrecord",
        "wecom.view_followrelation",
        *_PERFORMANCE_READ,
    ],
    STORE_MANAGER: [
        *_STORE_COMMON,
        "members.view_full_pi",
        "members.freeze_member",
        "members.import_members",
        "members.import_orders",
        "members.export_members",
        "members.change_staff",
        # Staff performance of their store (performance/: every view is store-scoped).
        *_PERFORMANCE_READ,
    ],
    STORE_STAFF: list(_STORE_COMMON),
}


def permissions_ensure(*, apps: Any) -> None:
    """Create the content types and permissions of every installed app now (Django creates them
    only after the whole `migrate` run, too late for a data migration that grants them)."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for app_config in apps.get_app_configs():
        # Historical app configs have no models_module, and the create_* helpers skip such apps.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_contenttypes(app_config, apps=apps, verbosity=0)
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original


def roles_sync(*, apps: Any) -> None:
    """Create the four groups and add their permissions. Idempotent; `apps` is the historical
    registry in a migration, `django.apps.apps` otherwise."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions_ensure(apps=apps)
    all_permissions = list(permission_model.objects.select_related("content_type"))
    for role, specs in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = [p.pk for p in all_permissions if _matches(p.content_type.app_label, p.codename, specs)]
        group.permissions.add(*wanted)


def _matches(app_label: str, codename: str, specs: Iterable[str]) -> bool:
    return any(spec in (f"{app_label}.*", f"{app_label}.{codename}") for spec in specs)
