"""Consent records are proof: the database refuses to change or delete them."""

from django.db import migrations

APPEND_ONLY = """
CREATE FUNCTION consent_refuse_record_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent records are append-only: % on consent_consentrecord refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_consentrecord_no_update_delete
    BEFORE UPDATE OR DELETE ON consent_consentrecord
    FOR EACH ROW EXECUTE FUNCTION consent_refuse_record_change();

CREATE TRIGGER consent_consentrecord_no_truncate
    BEFORE TRUNCATE ON consent_consentrecord
    FOR EACH STATEMENT EXECUTE FUNCTION consent_refuse_record_change();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS consent_consentrecord_no_truncate ON consent_consentrecord;
DROP TRIGGER IF EXISTS consent_consentrecord_no_update_delete ON consent_consentrecord;
DROP FUNCTION IF EXISTS consent_refuse_record_change();
"""


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY)]
