from django.db import migrations

from crm.db.guards import AppendOnly


class Migration(migrations.Migration):
    """A coupon's history is proof (audit_coupons checks the state against it): never edited."""

    dependencies = [("coupons", "0001_initial")]

    operations = [AppendOnly("coupons_couponevent")]
