"""The brand's engagement rules (one row, created with the defaults when first needed)."""

from engagement.models import EngagementSettings


def engagement_settings_get() -> EngagementSettings:
    found = EngagementSettings.objects.filter(singleton=True).first()
    if found is None:
        found, _ = EngagementSettings.objects.get_or_create(singleton=True)
    return found
