"""Migrations O(changed): a fingerprint of what a brand's schema has applied, compared with the
code's, so that a deploy migrates only the brands that differ (DOMAIN.md "Scale-out").

Stock `migrate_schemas --tenant` opens every brand, loads the migration graph against its
`django_migrations`, finds nothing to do and still creates content types and permissions for every
model: ~0.8 s a brand, 13 minutes for 1,000 brands on every deploy. Here a deploy reads one
column of the public `tenancy_brand` table, and migrates (in parallel) only the brands whose
`migrations_fingerprint` is not the code's; content types and permissions are created only when
`models_fingerprint` differs too (a migration that adds an index changes no permission).

A brand's fingerprint is written after its migration succeeded, so a brand that failed keeps its
old one and is tried again by the next run. Per database alias: with cells, run once per cell.
"""

import hashlib
import logging
import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.models.signals import post_migrate
from django_tenants.utils import get_public_schema_name, schema_exists

from .models import Brand

logger = logging.getLogger(__name__)


def _tenant_app_labels() -> set[str]:
    names = set(settings.TENANT_APPS)
    return {config.label for config in apps.get_app_configs() if config.name in names}


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def code_migrations_fingerprint() -> str:
    """Every migration of the brand apps that the code holds: what a migrated brand has applied."""
    labels = _tenant_app_labels()
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    return _digest([f"{app}.{name}" for app, name in loader.disk_migrations if app in labels])


def code_models_fingerprint() -> str:
    """What content types and permissions are made of, for the brand apps' models: a change here
    (a model added, renamed, a permission declared) is the only reason to create them again."""
    labels = _tenant_app_labels()
    lines = []
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.app_label not in labels:
            continue
        permissions = sorted(
            [f"{action}:{opts.verbose_name_raw}" for action in opts.default_permissions]
            + [f"{codename}:{name}" for codename, name in opts.permissions]
        )
        lines.append(f"{opts.app_label}.{opts.model_name}|{'|'.join(permissions)}")
    return _digest(lines)


def applied_migrations_fingerprint(schema_name: str, *, database: str = "default") -> str:
    """The fingerprint of what `schema_name` has applied, read from its own `django_migrations`
    (equal to code_migrations_fingerprint() when it is fully migrated). One query."""
    labels = _tenant_app_labels()
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    on_disk = {key for key in loader.disk_migrations if key[0] in labels}
    with connections[database].cursor() as cursor:
        # Identifiers cannot be parameters: the schema name is a validated slug (or the template).
        cursor.execute(f'SELECT app, name FROM "{schema_name}".django_migrations')  # noqa: S608
        applied = {(app, name) for app, name in cursor.fetchall()}
    return _digest([f"{app}.{name}" for app, name in applied & on_disk])


@contextmanager
def _without_model_rows() -> Iterator[None]:
    """The migrate command without its post_migrate receivers: content types, permissions and
    what apps build on them (the members app's roles). For a migration that changed no model they
    would read every model's rows to write nothing. All receivers, not three named ones: the
    kernel names no app (the layering contract), and each receiver is about models by definition
    of the signal."""
    receivers = post_migrate.receivers
    post_migrate.receivers = []
    post_migrate.sender_receivers_cache.clear()
    try:
        yield
    finally:
        post_migrate.receivers = receivers
        post_migrate.sender_receivers_cache.clear()


@dataclass(frozen=True)
class _Job:
    schema_name: str
    database: str
    models_changed: bool
    verbosity: int


@dataclass(frozen=True)
class _Outcome:
    schema_name: str
    error: str = ""
    seconds: float = 0.0


def _migrate_one(job: _Job) -> _Outcome:
    """Migrate one schema; never raises (a failed brand must not stop the others)."""
    started = time.monotonic()
    try:
        options = {"tenant": True, "schema_name": job.schema_name, "interactive": False}
        options |= {"verbosity": job.verbosity, "database": job.database}
        if job.models_changed:
            call_command("migrate_schemas", **options)
        else:
            with _without_model_rows():
                call_command("migrate_schemas", **options)
    except Exception as exc:  # reported per brand, retried by the next run
        logger.exception("migrate_brands: %s failed", job.schema_name)
        return _Outcome(job.schema_name, error=f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - started)
    finally:
        connections[job.database].set_schema_to_public()  # type: ignore[attr-defined]  # django-tenants
    return _Outcome(job.schema_name, seconds=time.monotonic() - started)


def _migrate_in_child(job: _Job) -> _Outcome:
    connections[job.database].close()  # a forked child never uses its parent's socket
    return _migrate_one(job)


@dataclass
class MigrateReport:
    code_fingerprint: str
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    template_migrated: bool = False


def brand_template_needs_migrate(*, database: str = "default", every_brand: bool = False) -> bool:
    template = settings.TENANT_BASE_SCHEMA
    with connections[database].cursor():
        if not schema_exists(template):
            return False  # made by the next provisioning, from the code as it is then
    return every_brand or applied_migrations_fingerprint(template, database=database) != code_migrations_fingerprint()


def brands_migrate(
    *,
    database: str = "default",
    processes: int = 2,
    verbosity: int = 0,
    every_brand: bool = False,
    cell: str | None = None,
) -> MigrateReport:
    """Migrate the brands (and the template) of one database whose fingerprints differ from the
    code's, `processes` at a time; record each success. The public schema comes first and is the
    caller's (`migrate_schemas --shared`). With `cell`, only the brands the map puts in that cell."""
    migrations_fp, models_fp = code_migrations_fingerprint(), code_models_fingerprint()
    report = MigrateReport(code_fingerprint=migrations_fp)
    brands = Brand.objects.using(database).exclude(schema_name=get_public_schema_name())
    if cell is not None:
        # The control database (the `default` cell) holds every brand's row, those of other
        # cells included, whose schemas are not here (crm/tenancy/cells.py).
        brands = brands.filter(cell=cell)
    if not every_brand:
        report.unchanged = brands.filter(migrations_fingerprint=migrations_fp, models_fingerprint=models_fp).count()
        brands = brands.exclude(migrations_fingerprint=migrations_fp, models_fingerprint=models_fp)
    pending = list(brands.order_by("schema_name").values_list("schema_name", "models_fingerprint"))
    jobs = [_Job(schema, database, every_brand or fp != models_fp, verbosity) for schema, fp in pending]
    if brand_template_needs_migrate(database=database, every_brand=every_brand):
        # The template holds no brand's data: migrated like a brand, so new brands clone the code's state.
        jobs.insert(0, _Job(settings.TENANT_BASE_SCHEMA, database, True, verbosity))
    if not jobs:
        return report

    if processes <= 1 or len(jobs) == 1:
        outcomes = [_migrate_one(job) for job in jobs]
    else:
        connections[database].close()  # the children must not share this connection's socket
        with multiprocessing.get_context("fork").Pool(processes=processes, maxtasksperchild=50) as pool:
            outcomes = list(pool.imap_unordered(_migrate_in_child, jobs))

    for outcome in outcomes:
        if outcome.error:
            report.failed[outcome.schema_name] = outcome.error
        elif outcome.schema_name == settings.TENANT_BASE_SCHEMA:
            report.template_migrated = True
        else:
            report.migrated.append(outcome.schema_name)
    # One statement for every success: the next run skips them, and only them.
    Brand.objects.using(database).filter(schema_name__in=report.migrated).update(
        migrations_fingerprint=migrations_fp, models_fingerprint=models_fp
    )
    report.migrated.sort()
    return report


def brand_fingerprints_record(*, brand: Brand) -> None:
    """A brand just created from the code's migrations (migrated, or cloned from the up-to-date
    template) has applied the code's state: say so, so that the next deploy skips it."""
    brand.migrations_fingerprint = code_migrations_fingerprint()
    brand.models_fingerprint = code_models_fingerprint()
    brand.save(update_fields=["migrations_fingerprint", "models_fingerprint", "updated_at"])
