"""Demo: the demo brand signs members in with WeChat through the fake WeChat OAuth server that
`serve` starts on port 8766 (Procfile.dev), with its public demo credentials."""

from .fake.server import DEMO_APP_ID, DEMO_APP_SECRET
from .models import WechatOAuthConfig
from .services.signin import wechat_config_save

FAKE = "http://127.0.0.1:8766/"


def seed() -> None:
    if WechatOAuthConfig.objects.exists():
        return  # idempotent: a brand admin may have changed it since
    wechat_config_save(
        app_id=DEMO_APP_ID,
        secret=DEMO_APP_SECRET,
        authorize_url=FAKE + "connect/oauth2/authorize",
        api_base_url=FAKE,
    )
