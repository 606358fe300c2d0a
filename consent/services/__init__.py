"""Consent services (every write of the consent app). One module per concern; the public ones are
re-exported here so callers write `from consent.services import consent_withdraw`."""

from .agreements import agreement_create, agreement_version_draft_save, agreement_version_publish
from .data_requests import (
    DATA_REQUEST_DUE_DAYS,
    data_request_complete,
    data_request_create,
    data_request_export_delivered,
    data_request_refuse,
    member_data_export,
    member_data_export_json,
    member_erase,
)
from .links import preference_link_path, preference_link_read, preference_link_token
from .pi_log import pi_access_log
from .records import (
    GUARDIAN_CONSENT_BELOW_AGE,
    age_on,
    agreement_version_current,
    agreement_versions_current,
    consent_enrolment_record,
    consent_enrolment_validate,
    consent_grant,
    consent_member_merge,
    consent_state_audit,
    consent_state_repair,
    consent_withdraw,
    membership_version_current,
    purpose_version_current,
)
from .sessions import (
    consent_session_cancel,
    consent_session_consume,
    consent_session_decisions,
    consent_session_open,
    consent_session_path,
    consent_session_record_paper,
    consent_session_submit,
)

__all__ = [
    "DATA_REQUEST_DUE_DAYS",
    "GUARDIAN_CONSENT_BELOW_AGE",
    "age_on",
    "agreement_create",
    "agreement_version_current",
    "agreement_version_draft_save",
    "agreement_version_publish",
    "agreement_versions_current",
    "consent_enrolment_record",
    "consent_enrolment_validate",
    "consent_grant",
    "consent_member_merge",
    "consent_session_cancel",
    "consent_session_consume",
    "consent_session_decisions",
    "consent_session_open",
    "consent_session_path",
    "consent_session_record_paper",
    "consent_session_submit",
    "consent_state_audit",
    "consent_state_repair",
    "consent_withdraw",
    "data_request_complete",
    "data_request_create",
    "data_request_export_delivered",
    "data_request_refuse",
    "member_data_export",
    "member_data_export_json",
    "member_erase",
    "membership_version_current",
    "pi_access_log",
    "preference_link_path",
    "preference_link_read",
    "preference_link_token",
    "purpose_version_current",
]
