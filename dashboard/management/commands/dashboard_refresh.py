from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.tenancy.cells import brand_context
from dashboard.services import dashboard_refresh


class Command(BaseCommand):
    help = "Rebuild the dashboard aggregates of one brand now (the hourly job does it otherwise)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", "--schema", dest="schema", required=True, help="the brand's slug")

    def handle(self, *args: Any, schema: str, **options: Any) -> None:
        with brand_context(schema):
            refresh = dashboard_refresh()
        self.stdout.write(f"{schema}: refreshed in {refresh.duration_ms} ms")
