"""Every brand starts with its membership agreement v1 as a DRAFT of the template.

Brands are cloned from the migrated `brand_template` schema, so this data migration reaches every
new brand. The template names the brand and its contacts with 【…】 blanks (PIPL art. 17 asks for
the processor's name and contact), so it cannot be what people consent to: brand provisioning
fills it from the brand's details and publishes it (consent.services.membership_agreement_fill),
or the brand admin completes and publishes it; enrolment is refused until then.

Before issue 20 this migration published the template (titled “…（模板）”) as v1 at once, and
brands enrolled members against a text naming 【品牌名称】. Databases where it ran that way are
handled by 0006.
"""

from django.db import migrations

from consent.agreement_text import MEMBERSHIP_TEMPLATE, MEMBERSHIP_TITLE


def create_template(apps, schema_editor):
    Agreement = apps.get_model("consent", "Agreement")
    AgreementVersion = apps.get_model("consent", "AgreementVersion")
    agreement, _ = Agreement.objects.get_or_create(
        code="membership", defaults={"kind": "membership", "title": MEMBERSHIP_TITLE}
    )
    if not AgreementVersion.objects.filter(agreement=agreement).exists():
        AgreementVersion.objects.create(
            agreement=agreement, version=1, text=MEMBERSHIP_TEMPLATE, purposes=["membership"], published_at=None
        )


class Migration(migrations.Migration):
    dependencies = [("consent", "0004_published_versions_and_logs_immutable")]

    # No reverse: the draft may have been completed and published since (published versions are proof).
    operations = [migrations.RunPython(create_template, migrations.RunPython.noop)]
