"""Cells: the PostgreSQL clusters (production: Citus clusters) the brands' schemas live in.

A *cell* is one database with its own public schema (django-tenants' tables, the cell's brands'
Brand and Domain rows, django_migrations, the beat schedule, the cache table) and the schemas
of the brands it holds (and `brand_template`, which new brands there are cloned from). The
*control* database is the `default` alias: it holds every brand's Brand and Domain row, so a host
finds its brand in one place, and `Brand.cell`, the brand → cell map. The control database is a
cell too (the `default` cell): a one-cell deployment is exactly the project as it was. docs/cells.md.

How a process reaches a cell: Django's `connections["default"]` is swapped, for the current thread
only, for the cell's own connection (its alias `cell_<name>`, one persistent connection per cell
and thread, like the default one). Everything that talks to "the database" — the ORM, every
`transaction.atomic()`, `connection.cursor()`, django-tenants' `set_tenant` / `schema_context`,
tenant-schemas-celery — asks `connections["default"]`, so all of it follows the swap and no line
of the apps changes. A database router could only route the ORM's reads and writes: the many
`transaction.atomic()`, raw cursors and `schema_context` blocks would all stay on the control
database. Rewriting the default connection's settings per request instead would reconnect each
time a process switches cell. The control database's own connection is put aside meanwhile and
back by `cell_activate(HOME_CELL)`; `control_context()` reads the map from it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django_tenants.utils import schema_context

from crm.errors import AppError

from . import error_codes

HOME_CELL = "default"  # the cell whose database is the control database
CONTROL_ALIAS = "default"
_PUT_ASIDE = "_control_connection"  # per-thread attribute of Django's connection store


@dataclass(frozen=True)
class Cell:
    name: str
    alias: str  # the Django database alias of its connection
    cap: int  # brands it may hold (docs/cells.md "Caps"); provisioning skips a full cell


def cells() -> dict[str, Cell]:
    return {name: Cell(name=name, alias=conf["alias"], cap=int(conf["cap"])) for name, conf in settings.CELLS.items()}


def cell_get(name: str) -> Cell:
    try:
        return cells()[name]
    except KeyError:
        raise AppError(error_codes.CELL_UNKNOWN, f"没有名为“{name}”的单元（cell），请检查 CELL_URLS 配置。") from None


def _store() -> Any:
    return connections._connections  # type: ignore[attr-defined]  # asgiref Local: per thread (and async context)


def cell_current() -> str:
    """The cell the current thread's default connection points at."""
    alias = connections["default"].alias
    for cell in cells().values():
        if cell.alias == alias:
            return cell.name
    raise AppError(error_codes.CELL_UNKNOWN, f"数据库连接“{alias}”不属于任何单元（cell）。")


def cell_activate(name: str) -> None:
    """Point this thread's default connection at the cell `name` (no-op when already there)."""
    store = _store()
    put_aside = getattr(store, _PUT_ASIDE, None)
    if name == HOME_CELL and put_aside is None:  # a one-cell deployment: nothing to do, ever
        return
    target = cell_get(name).alias
    if target == CONTROL_ALIAS:
        if put_aside is not None:
            connections[CONTROL_ALIAS] = put_aside
            delattr(store, _PUT_ASIDE)
        return
    if connections[CONTROL_ALIAS].alias == target:
        return
    if put_aside is None:
        setattr(store, _PUT_ASIDE, connections[CONTROL_ALIAS])
    connections[CONTROL_ALIAS] = connections[target]


@contextmanager
def cell_context(name: str) -> Iterator[None]:
    """The block runs in cell `name`; the thread's previous cell comes back afterwards."""
    previous = cell_current()
    cell_activate(name)
    try:
        yield
    finally:
        cell_activate(previous)


def control_context() -> Any:
    """The block reads or writes the control database (the brand → cell map)."""
    return cell_context(HOME_CELL)


def control_connection() -> Any:
    """The control database's connection of this thread, without leaving the current cell."""
    return getattr(_store(), _PUT_ASIDE, None) or connections[CONTROL_ALIAS]


@dataclass(frozen=True)
class BrandPlace:
    schema_name: str
    cell: str
    ready: bool
    read_only: bool


def brand_place(schema_name: str) -> BrandPlace | None:
    """Where a brand lives, from the control database (one indexed read)."""
    from .models import Brand

    with control_context():
        row = Brand.objects.filter(schema_name=schema_name).values_list("cell", "ready", "read_only").first()
    if row is None:
        return None
    return BrandPlace(schema_name=schema_name, cell=row[0], ready=row[1], read_only=row[2])


@contextmanager
def brand_context(schema_name: str) -> Iterator[BrandPlace]:
    """The block runs in the brand's schema, in the brand's cell (management commands, scripts)."""
    place = brand_place(schema_name)
    if place is None:
        raise AppError(error_codes.BRAND_UNKNOWN, f"没有标识为“{schema_name}”的品牌。")
    with cell_context(place.cell), schema_context(schema_name):
        yield place


def cell_brand_counts() -> dict[str, int]:
    """How many brands each cell holds (from the map; the platform row is not a brand)."""
    from django.db.models import Count
    from django_tenants.utils import get_public_schema_name

    from .models import Brand

    counts = dict.fromkeys(cells(), 0)
    with control_context():
        rows = (
            Brand.objects.exclude(schema_name=get_public_schema_name())
            .values("cell")
            .annotate(n=Count("id"))
            .values_list("cell", "n")
        )
        for cell, n in rows:
            counts[cell] = n
    return counts


def cell_with_room() -> str:
    """The cell a new brand goes to: the one with most room left (ties: the first named). Refuses
    when every cell is at its cap: adding a cell is an operator's decision (docs/cells.md)."""
    counts = cell_brand_counts()
    room = {cell.name: cell.cap - counts.get(cell.name, 0) for cell in cells().values()}
    name = max(room, key=lambda cell: room[cell])
    if room[name] <= 0:
        raise AppError(error_codes.CELLS_FULL, "所有单元（cell）的品牌数都已达到上限，请先增加一个单元再创建品牌。")
    return name
