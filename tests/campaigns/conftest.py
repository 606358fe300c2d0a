import datetime as dt

import pytest

from campaigns.models import Campaign
from tests.campaigns.scenes import marketing_agreement_publish
from tests.wecom.conftest import (  # noqa: F401 - WeCom fixtures
    committed_brand,
    config_a,
    fake,
    fake_server,
    secret_a,
    wecom_brand,
)


@pytest.fixture
def make_campaign():
    """An unsaved-then-saved campaign with sensible defaults (monthly member day on the 8th 10:00)."""

    def make(**fields: object) -> Campaign:
        values: dict[str, object] = {
            "name": "会员日",
            "frequency": Campaign.Frequency.MONTHLY,
            "day_of_month": 8,
            "time_of_day": dt.time(10, 0),
            "bonus_points": 50,
        }
        values.update(fields)
        return Campaign.objects.create(**values)

    return make


@pytest.fixture
def marketing_agreement(in_brand_a):
    """A published marketing agreement (SMS and WeCom), next to the template membership terms."""
    return marketing_agreement_publish()
