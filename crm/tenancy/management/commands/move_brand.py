"""manage.py move_brand --brand acme --to b: move a brand's schema to another cell (docs/cells.md)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.errors import AppError
from crm.tenancy.moves import MEMO_HORIZON_SECONDS, brand_move


class Command(BaseCommand):
    help = "Move a brand to another cell: read-only, dump/restore its schema, flip the map, drop the old schema."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", "--schema", dest="schema", required=True, help="the brand's slug")
        parser.add_argument("--to", required=True, help="the cell's name (settings CELLS / CELL_URLS)")
        parser.add_argument(
            "--grace",
            type=float,
            default=MEMO_HORIZON_SECONDS,
            help="seconds to wait after marking the brand read-only, until every process has seen it",
        )

    def handle(self, *args: Any, schema: str, to: str, grace: float, **options: Any) -> None:
        try:
            result = brand_move(slug=schema, to_cell=to, grace_seconds=grace, say=self.stdout.write)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.schema_name}: moved from cell {result.source} to {result.target} in {result.seconds:.1f} s "
                f"({len(result.rows)} tables, {sum(result.rows.values())} rows). Check it: "
                f"manage.py audit_ledger --brand {result.schema_name}"
            )
        )
