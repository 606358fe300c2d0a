"""No published agreement keeps a 【…】 template blank, and no brand goes on enrolling under one.

Until this change every brand had the template membership agreement published as v1 (0005), naming
【品牌名称】, 【联系地址】 and 【联系电话/邮箱】 instead of the processor (PIPL art. 17), and brands
that never replaced it enrolled members against it. Decision for those brands, per brand schema:

- the brand row (public schema) has its name, contact address and personal-information contact:
  the text in force is filled with them and published as the next version. Not a material change
  (the brand only names itself), so members' consents carry over, as when a brand admin did it;
- otherwise (on the first deploy the contact columns are new and empty, so this is the usual case):
  nothing is published — a published version cannot be withdrawn or changed (0004), and
  inventing the brand's contacts is worse. A draft copy of the text is left for the brand admin to complete, and enrolment is
  refused (consent_membership_agreement_incomplete, on every path) while the version in force has
  a blank, so the admin is told by the first refused enrolment and by the agreement admin. The
  platform operator can also enter the brand's contacts in the platform admin: saving them fills
  and publishes the agreement (crm.tenancy.services.brand_details_update).

Brands whose version in force is already complete are not touched, whatever older versions say.

The `brand_template` schema (new brands are cloned from it; it has no brand row, no member and no
consent) is the one place where the published template is nobody's proof: there it is turned back
into the draft it is now (0005, "（模板）" dropped from its title), so brands created from now on
never have a published version with blanks in their history. Its immutability trigger is lifted for that one UPDATE, only there.

Then the database refuses, from now on, to write a published version whose text has a 【…】 blank
(a trigger, not a CHECK constraint: the historical template versions must stay as they are — they
are the proof of what people consented to — and a trigger only judges new writes). The services
refuse it first with a clear message; the trigger covers every other path (seeders, fixtures,
hand-written SQL). Schema clones copy rows before they create triggers, so cloning a template
that still holds the old published v1 works.
"""

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from consent.agreement_text import membership_text_fill, placeholders_in, template_mark_drop


def _brand_details(connection) -> tuple[str, str, str] | None:
    schema = getattr(connection, "schema_name", None)
    public = get_public_schema_name()
    if not schema or schema == public:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT name, contact_address, pi_contact FROM "{public}".tenancy_brand WHERE schema_name = %s', [schema]
        )
        row = cursor.fetchone()
    return tuple(row) if row else None


def _template_unpublish(apps, schema_editor) -> bool:
    """In the template schema only: make the published template a draft again. Returns whether it did."""
    if getattr(schema_editor.connection, "schema_name", None) != settings.TENANT_BASE_SCHEMA:
        return False
    AgreementVersion = apps.get_model("consent", "AgreementVersion")
    ConsentRecord = apps.get_model("consent", "ConsentRecord")
    published = [v for v in AgreementVersion.objects.filter(published_at__isnull=False) if placeholders_in(v.text)]
    if not published or ConsentRecord.objects.exists():
        return False
    with schema_editor.connection.cursor() as cursor:
        # ALTER TABLE refuses while the transaction has deferred constraint checks pending on the
        # table (provisioning migrates the template inside its own transaction): run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE consent_agreementversion DISABLE TRIGGER consent_agreementversion_published_immutable")
        for version in published:
            AgreementVersion.objects.filter(pk=version.pk).update(
                published_at=None, published_by="", text=template_mark_drop(version.text)
            )
        cursor.execute("ALTER TABLE consent_agreementversion ENABLE TRIGGER consent_agreementversion_published_immutable")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return True


def complete_or_leave_a_draft(apps, schema_editor):
    Agreement = apps.get_model("consent", "Agreement")
    AgreementVersion = apps.get_model("consent", "AgreementVersion")
    agreement = Agreement.objects.filter(kind="membership").order_by("id").first()
    if agreement is None or _template_unpublish(apps, schema_editor):
        return
    now = timezone.now()
    versions = AgreementVersion.objects.filter(agreement=agreement)
    current = (
        versions.filter(published_at__isnull=False, effective_at__lte=now).order_by("-effective_at", "-version").first()
    )
    if current is None or not placeholders_in(current.text):
        return
    next_number = versions.order_by("-version").values_list("version", flat=True).first() + 1
    details = _brand_details(schema_editor.connection)
    if details is not None and all((value or "").strip() for value in details):
        name, address, contact = details
        filled = membership_text_fill(current.text, brand_name=name, contact_address=address, pi_contact=contact)
        if not placeholders_in(filled):
            AgreementVersion.objects.create(
                agreement=agreement,
                version=next_number,
                text=filled,
                purposes=current.purposes,
                material_change=False,
                reconsent_purposes=[],
                effective_at=now,
                published_at=now,
                published_by="migration consent.0006",
            )
            return
    if not versions.filter(published_at__isnull=True).exists():
        AgreementVersion.objects.create(
            agreement=agreement,
            version=next_number,
            text=template_mark_drop(current.text),
            purposes=current.purposes,
            published_at=None,
        )


TRIGGER = [
    """
CREATE FUNCTION consent_refuse_published_placeholders() RETURNS trigger AS $$
BEGIN
    IF NEW.published_at IS NOT NULL AND NEW.text ~ '【[^【】]*】' THEN
        RAISE EXCEPTION 'agreement version % is published with a template blank (【…】) in its text', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER consent_agreementversion_no_published_placeholders
    BEFORE INSERT OR UPDATE ON consent_agreementversion
    FOR EACH ROW EXECUTE FUNCTION consent_refuse_published_placeholders()
""",
]

TRIGGER_DROP = [
    "DROP TRIGGER IF EXISTS consent_agreementversion_no_published_placeholders ON consent_agreementversion",
    "DROP FUNCTION IF EXISTS consent_refuse_published_placeholders()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0005_template_membership_agreement"),
        # The brand's contact columns are read from the public schema (migrated before the brands).
        ("tenancy", "0003_brand_pi_contact"),
    ]

    operations = [
        # No reverse for the data: a published version may carry consent records (it is proof).
        migrations.RunPython(complete_or_leave_a_draft, migrations.RunPython.noop),
        migrations.RunSQL(TRIGGER, TRIGGER_DROP),
    ]
