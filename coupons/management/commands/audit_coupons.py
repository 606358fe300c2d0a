"""python manage.py audit_coupons [--schema X]: every coupon's state is where its history ends
(and the history chains), stock left + issued = total stock, holdings = coupons held, every pool
coupon's code is claimed from the pool. Exits 1 listing each drift, 0 when clean."""

from coupons.services import coupons_audit
from crm.tenancy.audits import BrandAuditCommand


class Command(BrandAuditCommand):
    help = "Verify coupons against their history, stock and holdings."

    def audit(self) -> list[str]:
        return [str(problem) for problem in coupons_audit()]

    def summary(self, count: int) -> str:
        return f"{count} problem(s)"

    def failure(self, count: int) -> str:
        return f"coupon drift: {count} problem(s)"
