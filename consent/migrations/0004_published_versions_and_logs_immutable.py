"""Proof stays proof, enforced by the database and not only by the services:

- a published agreement version is the exact text people consented to: no UPDATE, no DELETE;
- the personal-information access log (PIPL art. 51) and the data-request audit trail are
  append-only, like the consent records (0002).
"""

from django.db import migrations

from crm.db.guards import AppendOnly

FORWARD = [
    """
CREATE FUNCTION consent_refuse_published_version_change() RETURNS trigger AS $$
BEGIN
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'agreement version % is published and immutable: % refused', OLD.id, TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER consent_agreementversion_published_immutable
    BEFORE UPDATE OR DELETE ON consent_agreementversion
    FOR EACH ROW EXECUTE FUNCTION consent_refuse_published_version_change()
""",
]

BACKWARD = [
    "DROP TRIGGER IF EXISTS consent_agreementversion_published_immutable ON consent_agreementversion",
    "DROP FUNCTION IF EXISTS consent_refuse_published_version_change()",
]


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_state_sessions_requests_pi_log")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        AppendOnly("consent_piaccesslog"),
        AppendOnly("consent_datarequestevent"),
    ]
