"""Scenes borrowed for the touch sources: WeCom's fake server and brand config, a campaign, a
signed-up member of the member centre, the coupons' fixed clock."""

from tests.campaigns.conftest import make_campaign, marketing_agreement  # noqa: F401 - fixtures
from tests.consent.conftest import agreements_a  # noqa: F401 - fixture
from tests.coupons.scene import fixed_clock  # noqa: F401 - fixture
from tests.membercentre.conftest import member_a  # noqa: F401 - fixture
from tests.wecom.conftest import config_a, fake, fake_server, secret_a  # noqa: F401 - fixtures
