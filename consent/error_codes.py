"""Stable codes of consent errors (API `code`, admin messages)."""

CONSENT_MEMBERSHIP_REQUIRED = "consent_membership_required"
CONSENT_VERSION_NOT_CURRENT = "consent_version_not_current"
CONSENT_PURPOSE_NOT_IN_VERSION = "consent_purpose_not_in_version"
CONSENT_DUPLICATE_PURPOSE = "consent_duplicate_purpose"
CONSENT_GUARDIAN_REQUIRED = "consent_guardian_required"
CONSENT_EVIDENCE_MISSING = "consent_evidence_missing"
CONSENT_UNKNOWN_PURPOSE = "consent_unknown_purpose"
