from django.db import migrations, models


class Migration(migrations.Migration):
    """The brand's contact address and personal-information-protection contact (PIPL art. 17):
    the membership agreement names them. Blank for existing brands: their agreement is handled by
    consent migration 0006 and the platform admin (see there)."""

    dependencies = [("tenancy", "0002_cache_table")]

    operations = [
        migrations.AddField(
            model_name="brand",
            name="contact_address",
            field=models.CharField(blank=True, max_length=200, verbose_name="联系地址"),
        ),
        migrations.AddField(
            model_name="brand",
            name="pi_contact",
            field=models.CharField(
                blank=True,
                help_text="个人信息保护负责人的电话或邮箱，写入会员协议与隐私政策。",
                max_length=100,
                verbose_name="个人信息保护联系方式",
            ),
        ),
    ]
