"""python manage.py audit_ledger [--schema X]: check every member's points against the ledger and
the lots (the equations are in PointsLot's docstring). Exits 1 listing each drift, 0 when clean."""

from crm.tenancy.audits import BrandAuditCommand
from members.services.points import ledger_audit


class Command(BrandAuditCommand):
    help = "Verify balance + pending − debt = sum of entries, and balance + pending = unexpired lot remainders."

    def audit(self) -> list[str]:
        return [drift.describe() for drift in ledger_audit()]

    def summary(self, count: int) -> str:
        return f"{count} member(s) drifted"

    def failure(self, count: int) -> str:
        return f"ledger drift in {count} member(s)"
