"""Every brand starts with the default attribution rule in force (services.DEFAULT_RULE), so
orders are attributed from the first one on."""

from django.db import migrations

DEFAULT = {
    "precedence": ["serving", "touch", "exclusive"],
    "windows": {"channel_qr": 30, "share_link": 7, "poster": 7, "coupon": 30, "group_message": 3},
    "note": "默认规则：门店订单归服务导购，其次最近触达，其次专属导购",
}


def create_default(apps, schema_editor):
    rule = apps.get_model("performance", "AttributionRule")
    if not rule.objects.exists():
        rule.objects.create(created_by="system", **DEFAULT)


class Migration(migrations.Migration):
    dependencies = [("performance", "0001_initial")]

    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]
