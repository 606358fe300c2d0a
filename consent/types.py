"""What callers (enrolment in the admin, the partner API, the member pages, imports) hand to the
consent services. Plain dataclasses so that no caller needs a model to describe a decision."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConsentDecision:
    """One purpose, one decision, against the agreement version the person was shown."""

    purpose: str
    granted: bool
    version_id: int


@dataclass(frozen=True)
class GuardianConsent:
    """A guardian's consent for a member under 14 (PIPL art. 31)."""

    name: str
    relation: str
    mobile: str = ""
    evidence_reference: str = ""


@dataclass(frozen=True)
class ConsentEvidence:
    """How the brand obtained the decision. `channel` is a ConsentRecord.Channel value."""

    channel: str
    staff_id: int | None = None
    ip: str = ""
    user_agent: str = ""
    partner_reference: str = ""
    # Recorded by staff from a signed paper form rather than on the member's own device.
    paper: bool = False
    guardian: GuardianConsent | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "staff_id": self.staff_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "partner_reference": self.partner_reference,
            "paper": self.paper,
            **self.extra,
        }
        if self.guardian is not None:
            data["guardian"] = {
                "name": self.guardian.name,
                "relation": self.guardian.relation,
                "mobile": self.guardian.mobile,
                "evidence_reference": self.guardian.evidence_reference,
            }
        return {key: value for key, value in data.items() if value not in (None, "", False, {})}
