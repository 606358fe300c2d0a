"""Brand provisioning: the one way a brand comes to exist (management command and platform admin)."""

import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlparse
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from crm.db import connection
from crm.db.locks import BRAND_PROVISION, xact_advisory_lock
from crm.errors import AppError

from . import error_codes
from .cells import HOME_CELL, cell_context, cell_get, cell_with_room, control_context
from .fingerprints import applied_migrations_fingerprint, brand_fingerprints_record, code_migrations_fingerprint
from .hooks import BrandSetUp, brand_set_up_notify_in_transaction
from .models import RESERVED_SLUGS, Brand, Domain, slug_validator, validate_pi_contact, validate_time_zone

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class ProvisionResult:
    brand: Brand
    brand_created: bool
    admin_created: bool
    # Only when this call generated the password: shown to the operator once, never stored.
    generated_password: str | None


def _details_errors(*, name: str, time_zone: str, contact_address: str, pi_contact: str) -> dict[str, list[str]]:
    """The brand's own details: what the platform admin may also change later."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["品牌名称不能为空。"]
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        errors["time_zone"] = exc.messages
    if len(contact_address.strip()) > 200:  # the column's max_length
        errors["contact_address"] = ["联系地址最多 200 个字。"]
    if len(pi_contact.strip()) > 100:
        errors["pi_contact"] = ["联系方式最多 100 个字符。"]
    elif pi_contact.strip():
        try:
            validate_pi_contact(pi_contact.strip())
        except ValidationError as exc:
            errors["pi_contact"] = exc.messages
    # These are printed into the membership agreement, which may not be published while it holds a
    # 【…】 placeholder: a bracket here would leave the agreement unpublishable.
    for field, value in (("name", name), ("contact_address", contact_address), ("pi_contact", pi_contact)):
        if "【" in value or "】" in value:
            errors.setdefault(field, []).append("不能包含“【”“】”（协议中的占位符标记）。")
    return errors


def brand_provision_validate(
    *,
    slug: str,
    name: str,
    domain: str,
    admin_email: str,
    admin_password: str | None,
    time_zone: str,
    contact_address: str = "",
    pi_contact: str = "",
) -> None:
    """Refuse bad provisioning input before anything is written (also used by the admin form)."""
    errors = _details_errors(name=name, time_zone=time_zone, contact_address=contact_address, pi_contact=pi_contact)

    def check(field: str, validator, value) -> None:
        try:
            validator(value)
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)

    check("slug", slug_validator, slug)
    if slug in RESERVED_SLUGS or slug.startswith("pg"):
        errors.setdefault("slug", []).append(f"“{slug}”是保留标识，不能用作品牌标识。")
    if not _HOSTNAME.match(domain):
        errors["domain"] = [f"“{domain}”不是有效的域名。"]
    check("admin_email", validate_email, admin_email)
    if admin_password is not None:
        check("admin_password", validate_password, admin_password)
    if errors:
        raise AppError(error_codes.BRAND_INVALID, "品牌信息有误，请修改后重试。", fields=errors)
    _check_not_taken(slug=slug, domain=domain)


def _check_not_taken(*, slug: str, domain: str) -> None:
    """Re-running for the same brand and domain is fine; taking another brand's is not."""
    owner = Domain.objects.filter(domain=domain).select_related("tenant").first()
    if owner is not None and owner.tenant.schema_name != slug:
        message = f"域名“{domain}”已被品牌“{owner.tenant.name}”使用。"
        raise AppError(error_codes.DOMAIN_TAKEN, message, fields={"domain": [message]})
    existing = Brand.objects.filter(schema_name__iexact=slug).first()
    if existing is not None and owner is None:
        message = f"品牌标识“{slug}”已被品牌“{existing.name}”使用（域名不同）。"
        raise AppError(error_codes.SLUG_TAKEN, message, fields={"slug": [message]})


def _brand_template_migrate(*, verbosity: int) -> None:
    """Bring the template schema that new brands are cloned from up to date with the code (only
    when its applied migrations differ from the code's: one query when they do not)."""
    template = settings.TENANT_BASE_SCHEMA
    if not schema_exists(template):
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{template}"')
    elif applied_migrations_fingerprint(template) == code_migrations_fingerprint():
        return
    call_command("migrate_schemas", tenant=True, schema_name=template, interactive=False, verbosity=verbosity)


def _clone_function_install() -> None:
    """django-tenants' clone_schema() and its helpers, installed one SQL command at a time: its
    script is a dozen commands in one string, which a prepared statement (and so Citus under
    server-side binding, docs/scale-out.md) refuses. Installed again only when the script changed
    (its digest is the function's comment): one query otherwise."""
    from django_tenants.clone import CLONE_SCHEMA_FUNCTION

    db_user = settings.DATABASES["default"].get("USER") or "postgres"
    script = CLONE_SCHEMA_FUNCTION.format(db_user=db_user)
    digest = hashlib.sha256(script.encode()).hexdigest()
    signature = "public.clone_schema(text, text, public.cloneparms[])"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
            "AND proname = 'clone_schema' AND obj_description(oid, 'pg_proc') = %s)",
            [digest],
        )
        if cursor.fetchone()[0]:
            return
        for command in sqlparse.split(script):
            if sqlparse.format(command, strip_comments=True).strip(" ;\n\t"):
                cursor.execute(command)
        cursor.execute(f"COMMENT ON FUNCTION {signature} IS '{digest}'")


def _schema_clone(*, brand: Brand) -> None:
    """The brand's schema as a copy of the migrated template (tables, indexes, functions,
    triggers, the template's rows: django_migrations, content types, permissions, roles). Its
    fingerprints are the template's, which the code's migrations just produced."""
    _clone_function_install()
    with connection.cursor() as cursor:
        if settings.BRAND_SCHEMA_CREATION == "clone_distribute":
            # With schema-based sharding on, Citus registers the schema clone_schema() creates as
            # distributed at once, and the tables it copies stay plain tables on the coordinator:
            # citus_schema_distribute() would then see it distributed and do nothing (so it was on
            # a Citus 13.2 cluster). A local schema until distributed, whatever the cell's setting.
            # (On plain PostgreSQL this sets an unused placeholder.)
            cursor.execute("SET LOCAL citus.enable_schema_based_sharding = off")
        cursor.execute(
            "SELECT public.clone_schema(%s, %s, %s::public.cloneparms)",
            [settings.TENANT_BASE_SCHEMA, brand.schema_name, brand.clone_mode],
        )
    _storage_settings_copy(source=settings.TENANT_BASE_SCHEMA, target=brand.schema_name)
    constraint_names_align(source=settings.TENANT_BASE_SCHEMA, target=brand.schema_name)
    sequences_align(source=settings.TENANT_BASE_SCHEMA, target=brand.schema_name)


def sequences_align(*, source: str, target: str) -> int:
    """Move each of `target`'s sequences up to where `source`'s stands, never down.

    clone_schema() sets the sequences its copied rows own, but a sequence no column owns starts
    again at 1: member numbers (members 0002: `members_member_no_seq START 10000001`) began at
    M00000001 in a cloned brand and at M10000001 in one made by the migrations. Returns how many
    sequences were moved."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.sequencename
            FROM pg_sequences s JOIN pg_sequences t ON t.sequencename = s.sequencename
            WHERE s.schemaname = %s AND t.schemaname = %s
            """,
            [source, target],
        )
        moved = 0
        for (name,) in cursor.fetchall():
            # pg_sequences.last_value is NULL until nextval is first called: read the relations.
            cursor.execute(f'SELECT last_value, is_called FROM "{source}"."{name}"')  # noqa: S608 (catalog names)
            source_last, source_called = cursor.fetchone()
            cursor.execute(f'SELECT last_value, is_called FROM "{target}"."{name}"')  # noqa: S608
            target_last, target_called = cursor.fetchone()
            if source_last + int(source_called) > target_last + int(target_called):
                cursor.execute("SELECT setval(%s, %s, %s)", [f'"{target}"."{name}"', source_last, source_called])
                moved += 1
    return moved


def constraint_names_align(*, source: str, target: str) -> int:
    """Give `target`'s UNIQUE constraints (and so their indexes) the names they have in `source`.

    clone_schema() rebuilds each UNIQUE constraint as `<table>_<columns>_key`, not under the name
    the migrations gave it (`coupon_holding_unique`, `..._uniq`): a later migration that removes
    or alters the constraint by name would fail on every cloned brand while passing on the
    template. Constraints are paired by table and definition. Returns how many were renamed;
    also run on brands cloned before this (docs/scale-out.md, "Creating a brand")."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT tc.relname, c.conname, s.conname
            FROM pg_constraint c
            JOIN pg_class tc ON tc.oid = c.conrelid
            JOIN pg_class sc ON sc.relname = tc.relname AND sc.relnamespace = to_regnamespace(%s)
            JOIN pg_constraint s ON s.conrelid = sc.oid AND s.contype = c.contype
                AND pg_get_constraintdef(s.oid) = pg_get_constraintdef(c.oid)
            WHERE c.connamespace = to_regnamespace(%s) AND c.contype = 'u' AND c.conname <> s.conname
              AND NOT EXISTS (SELECT FROM pg_constraint o WHERE o.conrelid = c.conrelid AND o.conname = s.conname)
            """,
            [source, target],
        )
        renames = cursor.fetchall()
        for table, name, wanted in renames:
            cursor.execute(f'ALTER TABLE "{target}"."{table}" RENAME CONSTRAINT "{name}" TO "{wanted}"')
    return len(renames)


def _schema_migrate(*, brand: Brand, verbosity: int) -> None:
    """The brand's schema made by the migrations themselves (slower than a clone). On a Citus cell
    with `citus.enable_schema_based_sharding` on, CREATE SCHEMA makes a distributed schema and
    every table the migrations create in it is one of its colocated single-shard tables."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{brand.schema_name}"')
    call_command("migrate_schemas", tenant=True, schema_name=brand.schema_name, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()


def _citus_schema_distribute(*, slug: str) -> None:
    """Distribute a cloned brand schema on its Citus cell (docs/scale-out.md): outside any
    transaction, as Citus moves the schema's tables to a worker; skipped if already distributed,
    so a provisioning that failed here finishes when run again. Then every table of the schema
    must be one of its distributed tables: a schema Citus lists as distributed may still hold
    plain coordinator tables (a clone made with schema-based sharding on), and such a brand is
    refused, not made ready."""
    if connection.in_atomic_block:
        raise AppError(error_codes.CITUS_IN_TRANSACTION, "分布品牌 schema 须在事务之外执行。")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_dist_schema WHERE schemaid = to_regnamespace(%s))",
            [slug],
        )
        if not cursor.fetchone()[0]:
            cursor.execute("SELECT citus_schema_distribute(to_regnamespace(%s))", [slug])
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind IN ('r', 'p') "
            "AND NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = c.oid) ORDER BY 1",
            [slug],
        )
        local = [row[0] for row in cursor.fetchall()]
    if local:
        shown = "、".join(local[:5]) + ("等" if len(local) > 5 else "")
        raise AppError(
            error_codes.CITUS_NOT_DISTRIBUTED, f"品牌 schema“{slug}”中有 {len(local)} 张表未分布到工作节点：{shown}。"
        )


def _citus_cell() -> bool:
    """Whether the current cell is a Citus cluster (its metadata catalog exists)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_dist_partition') IS NOT NULL")
        return bool(cursor.fetchone()[0])


def _storage_settings_copy(*, source: str, target: str) -> None:
    """The schema clone copies tables, indexes and data but not tables' storage settings, such as
    the members table's fillfactor that lets balance updates stay HOT (members migration 0006);
    copy them from the template so a new brand performs like a migrated one."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, array_to_string(c.reloptions, ', ')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind = 'r' AND c.reloptions IS NOT NULL
            """,
            [source],
        )
        for table, options in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{target}"."{table}" SET ({options})')


def brand_provision(
    *,
    slug: str,
    name: str,
    domain: str,
    admin_email: str,
    admin_password: str | None = None,
    time_zone: str = "Asia/Shanghai",
    contact_address: str = "",
    pi_contact: str = "",
    verbosity: int = 0,
    cell: str | None = None,
) -> ProvisionResult:
    """Create (or finish creating) a brand: row, domain, schema, first admin, then mark it ready.

    Everything happens in one transaction (PostgreSQL DDL is transactional), so a failure at any
    step leaves nothing behind, and calling again with the same arguments is safe: an existing
    brand keeps its data and its admin's password, and is only brought up to date.

    `contact_address` and `pi_contact` (the personal-information-protection contact, a phone or an
    e-mail) complete the brand's identity as a processor: with them, the brand starts with its
    membership agreement filled in and published; without them the agreement is a draft the brand
    admin must complete and publish, and enrolment is refused until then (PIPL art. 17). Given on
    a re-run, they are recorded and finish the agreement if the brand has not published its own.

    The brand goes to `cell`, or to the cell with most room (crm/tenancy/cells.py); a re-run
    keeps the brand's cell.
    """
    slug = slug.strip().lower()
    domain = domain.strip().lower()
    admin_email = admin_email.strip().lower()
    contact_address, pi_contact = contact_address.strip(), pi_contact.strip()
    brand_provision_validate(
        slug=slug,
        name=name,
        domain=domain,
        admin_email=admin_email,
        admin_password=admin_password,
        time_zone=time_zone,
        contact_address=contact_address,
        pi_contact=pi_contact,
    )
    if connection.schema_name != get_public_schema_name():
        raise AppError(error_codes.WRONG_SCHEMA, "只能在平台（public）环境中创建品牌。")
    if cell is not None:
        cell_get(cell)

    try:
        # In the control database: the brand's row, its domain and its cell (the map).
        with control_context(), transaction.atomic():
            # Serialises provisioning: the template schema is migrated and cloned by one caller
            # at a time, and two new brands do not both take a cell's last place. Held until commit.
            xact_advisory_lock(BRAND_PROVISION)
            _check_not_taken(slug=slug, domain=domain)
            existing = Brand.objects.filter(schema_name=slug).first()
            if existing is not None and cell is not None and existing.cell != cell:
                raise AppError(
                    error_codes.BRAND_IN_OTHER_CELL, f"品牌“{slug}”在单元“{existing.cell}”中，迁移请用 move_brand。"
                )
            brand, brand_created = Brand.objects.get_or_create(
                schema_name=slug,
                defaults={
                    "name": name.strip(),
                    "time_zone": time_zone,
                    "contact_address": contact_address,
                    "pi_contact": pi_contact,
                    "cell": cell or cell_with_room(),
                },
            )
            given = {"contact_address": contact_address, "pi_contact": pi_contact}
            changed = [field for field, value in given.items() if value and getattr(brand, field) != value]
            if changed:
                for field in changed:
                    setattr(brand, field, given[field])
                brand.save(update_fields=[*changed, "updated_at"])
            Domain.objects.get_or_create(domain=domain, defaults={"tenant": brand, "is_primary": True})
            if brand.cell == HOME_CELL:
                # The control database is this brand's cell: all of it in this one transaction.
                admin_created, generated = _brand_in_cell_provision(
                    brand=brand, admin_email=admin_email, admin_password=admin_password, verbosity=verbosity
                )
        distribute = settings.BRAND_SCHEMA_CREATION == "clone_distribute"
        if brand.cell != HOME_CELL:
            # Another cell: the map row above is committed, not ready; the brand is made in its
            # cell in one transaction there, then marked ready here. A failure in between leaves a
            # brand that is not ready (no request, task or beat entry reaches it) and a re-run
            # finishes it.
            domains = list(Domain.objects.filter(tenant=brand))
            with cell_context(brand.cell), transaction.atomic():
                xact_advisory_lock(BRAND_PROVISION)
                cell_brand = brand_rows_copy(brand=brand, domains=domains)
                admin_created, generated = _brand_in_cell_provision(
                    brand=cell_brand, admin_email=admin_email, admin_password=admin_password, verbosity=verbosity
                )
            if not brand.ready and not distribute:
                brand.ready = True
                brand.save(update_fields=["ready", "updated_at"])
        if distribute and not brand.ready:
            # A clone to distribute is ready once distributed (outside the transaction), in its
            # cell and then in the map.
            with cell_context(brand.cell):
                _citus_schema_distribute(slug=slug)
                Brand.objects.filter(pk=brand.pk).update(ready=True)
            brand.ready = True
            brand.save(update_fields=["ready", "updated_at"])
    except IntegrityError as exc:
        # Lost a race with a concurrent provisioning of the same slug or domain.
        raise AppError(error_codes.BRAND_CONFLICT, "该品牌标识或域名正被同时创建，请稍后重试。") from exc
    return ProvisionResult(
        brand=brand, brand_created=brand_created, admin_created=admin_created, generated_password=generated
    )


def _brand_in_cell_provision(
    *, brand: Brand, admin_email: str, admin_password: str | None, verbosity: int
) -> tuple[bool, str | None]:
    """In the brand's cell, inside the caller's transaction: schema (made as BRAND_SCHEMA_CREATION
    says), first admin, agreement, ready (a clone to distribute: once distributed, by the caller)."""
    creation = settings.BRAND_SCHEMA_CREATION
    if creation == "clone" and _citus_cell():
        # A clone is plain tables on the node that runs it: on Citus, the coordinator, not a worker.
        raise AppError(
            error_codes.CITUS_CLONE,
            "该单元是 Citus 集群：品牌 schema 须以 migrate 或 clone_distribute 方式创建（BRAND_SCHEMA_CREATION）。",
        )
    if schema_exists(brand.schema_name):
        call_command(
            "migrate_schemas", tenant=True, schema_name=brand.schema_name, interactive=False, verbosity=verbosity
        )
    elif creation == "migrate":
        _schema_migrate(brand=brand, verbosity=verbosity)
    else:
        _brand_template_migrate(verbosity=verbosity)
        _schema_clone(brand=brand)
    brand_fingerprints_record(brand=brand)

    admin_created, generated = _brand_admin_ensure(brand=brand, email=admin_email, password=admin_password)
    brand_set_up_notify_in_transaction(_set_up_event(brand, actor="brand_provision"))
    if not brand.ready and creation != "clone_distribute":
        brand.ready = True
        brand.save(update_fields=["ready", "updated_at"])
    return admin_created, generated


def brand_rows_copy(*, brand: Brand, domains: list[Domain]) -> Brand:
    """In the current cell's public schema: the brand's row and its domains as the control database
    has them (same ids), and the platform's row, which django-tenants expects in every public
    schema. What runs in the cell (tasks, beat, migrate_schemas, the brand's time zone) reads them."""
    platform = control_platform()
    rows = [platform, brand] if platform is not None else [brand]
    for row in rows:
        values = {f.attname: getattr(row, f.attname) for f in Brand._meta.concrete_fields if not f.primary_key}
        # The copy's ready follows the cell's own provisioning (set after the schema exists).
        if row is brand:
            values["ready"] = Brand.objects.filter(pk=brand.pk).values_list("ready", flat=True).first() or False
        Brand.objects.update_or_create(pk=row.pk, defaults=values)
    for domain in domains:
        Domain.objects.update_or_create(
            pk=domain.pk, defaults={"domain": domain.domain, "tenant_id": brand.pk, "is_primary": domain.is_primary}
        )
    Domain.objects.filter(tenant_id=brand.pk).exclude(pk__in=[d.pk for d in domains]).delete()
    with connection.cursor() as cursor:  # ids come from the control database; keep the cell's sequences past them
        for table in (Brand._meta.db_table, Domain._meta.db_table):
            # The models' own table names.
            query = f"SELECT setval(pg_get_serial_sequence('public.{table}', 'id'), GREATEST((SELECT max(id) FROM public.{table}), 1))"  # noqa: S608, E501
            cursor.execute(query)
    return Brand.objects.get(pk=brand.pk)


def brand_cell_rows_refresh(*, brand_id: int) -> None:
    """The brand's row and domains in its cell as the control database has them now (after the
    platform admin changed its domains). Nothing to do for a brand of the `default` cell."""
    with control_context():
        brand = Brand.objects.get(pk=brand_id)
        domains = list(Domain.objects.filter(tenant=brand))
    if brand.cell != HOME_CELL:
        with cell_context(brand.cell), transaction.atomic():
            brand_rows_copy(brand=brand, domains=domains)


def control_platform() -> Brand | None:
    with control_context():
        return Brand.objects.filter(schema_name=get_public_schema_name()).first()


def brand_details_validate(*, name: str, time_zone: str, contact_address: str, pi_contact: str) -> None:
    """Refuse bad details of an existing brand before anything is written (also used by the admin form)."""
    errors = _details_errors(name=name, time_zone=time_zone, contact_address=contact_address, pi_contact=pi_contact)
    if errors:
        raise AppError(error_codes.BRAND_INVALID, "品牌信息有误，请修改后重试。", fields=errors)


def brand_details_update(
    *,
    brand_id: int,
    name: str,
    time_zone: str,
    contact_address: str,
    pi_contact: str,
    actor: str,
    admin_session_hours: int | None = None,
    export_keep_days: int | None = None,
) -> Brand:
    """The platform admin's change of a brand's own details. New contacts also finish the brand's
    membership agreement if the brand has not published a complete one itself (the same handlers
    as provisioning): that is how an operator completes a brand set up before contacts existed.
    `admin_session_hours` (None: unchanged) is how long the brand's back-office logins last;
    `export_keep_days` (None: unchanged), how long its background exports stay downloadable."""
    contact_address, pi_contact = contact_address.strip(), pi_contact.strip()
    brand_details_validate(name=name, time_zone=time_zone, contact_address=contact_address, pi_contact=pi_contact)
    # The model's bounds, checked here too: only the admin form ran them, and a script or a
    # future API calling this would have saved 0 days (every export expired at once) or 10,000 hours.
    bounds = {"admin_session_hours": (admin_session_hours, 1, 14 * 24), "export_keep_days": (export_keep_days, 1, 90)}
    out_of_bounds = {
        field: [f"须在 {low} 到 {high} 之间。"]
        for field, (value, low, high) in bounds.items()
        if value is not None and not low <= value <= high
    }
    if out_of_bounds:
        raise AppError(error_codes.BRAND_INVALID, "品牌信息有误，请修改后重试。", fields=out_of_bounds)
    with control_context(), transaction.atomic():
        brand = Brand.objects.select_for_update().get(pk=brand_id)
        brand.name, brand.time_zone = name.strip(), time_zone
        brand.contact_address, brand.pi_contact = contact_address, pi_contact
        fields = ["name", "time_zone", "contact_address", "pi_contact", "updated_at"]
        if admin_session_hours is not None:
            brand.admin_session_hours = admin_session_hours
            fields.append("admin_session_hours")
        if export_keep_days is not None:
            brand.export_keep_days = export_keep_days
            fields.append("export_keep_days")
        brand.save(update_fields=fields)
        if brand.ready and brand.cell == HOME_CELL:
            brand_set_up_notify_in_transaction(_set_up_event(brand, actor=actor))
        domains = list(Domain.objects.filter(tenant=brand))
    if brand.cell != HOME_CELL:
        # The cell's copy says the same, and the handlers run in the brand's schema, in its cell.
        with cell_context(brand.cell), transaction.atomic():
            cell_brand = brand_rows_copy(brand=brand, domains=domains)
            if cell_brand.ready:
                brand_set_up_notify_in_transaction(_set_up_event(cell_brand, actor=actor))
    return brand


def _set_up_event(brand: Brand, *, actor: str) -> BrandSetUp:
    return BrandSetUp(
        schema_name=brand.schema_name,
        name=brand.name,
        contact_address=brand.contact_address,
        pi_contact=brand.pi_contact,
        actor=actor,
    )


def _brand_admin_ensure(*, brand: Brand, email: str, password: str | None) -> tuple[bool, str | None]:
    """The brand's first admin, inside the brand's schema. An existing one is left untouched."""
    user_model = get_user_model()
    with schema_context(brand.schema_name):
        if user_model.objects.filter(username=email).exists():
            return False, None
        generated = None
        if password is None:
            generated = password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=email, email=email, password=password)
        return True, generated


def platform_ensure(*, domain: str) -> Brand:
    """The public tenant (platform host). Idempotent."""
    with transaction.atomic():
        platform, _ = Brand.objects.get_or_create(
            schema_name=get_public_schema_name(), defaults={"name": "会员运营平台", "ready": True}
        )
        Domain.objects.get_or_create(domain=domain, defaults={"tenant": platform, "is_primary": True})
    return platform


def platform_operator_ensure(*, username: str, email: str, password: str) -> bool:
    """A platform operator (superuser of the public admin). Returns True if created now."""
    user_model = get_user_model()
    with schema_context(get_public_schema_name()):
        if user_model.objects.filter(username=username).exists():
            return False
        user_model.objects.create_superuser(username=username, email=email, password=password)
        return True
