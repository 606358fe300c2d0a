"""Check (and optionally repair) that a brand's consent current-state table agrees with its
consent history:  manage.py consent_audit --brand demo [--repair]"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import get_public_schema_name

from consent.services import consent_state_audit, consent_state_repair
from crm.tenancy.cells import brand_context, brand_place


class Command(BaseCommand):
    help = "Compare consent current states with the consent history of one brand."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", "--schema", dest="schema", required=True, help="the brand's slug")
        parser.add_argument("--repair", action="store_true", help="rewrite disagreeing states from the history")

    def handle(self, *args: Any, schema: str, repair: bool, **options: Any) -> None:
        if schema == get_public_schema_name() or brand_place(schema) is None:
            raise CommandError(f"no such brand schema: {schema}")
        with brand_context(schema):
            mismatches = consent_state_audit()
            for m in mismatches:
                self.stdout.write(
                    f"member {m.member_id} {m.purpose}: history record {m.history_record_id}, "
                    f"state record {m.state_record_id}"
                )
            if repair and mismatches:
                self.stdout.write(f"repaired {consent_state_repair()} rows")
        if mismatches and not repair:
            raise CommandError(f"{len(mismatches)} consent states disagree with the history")
        self.stdout.write(self.style.SUCCESS("consent states agree with the history"))
