"""Demo data: the demo brand's WeCom app points at the fake WeCom server that `dev.py serve` runs
(Procfile `wecom`), so the whole flow can be seen without the internet."""

from .fake_server import DEMO_AES_KEY, DEMO_CORP_ID, DEMO_SECRET, DEMO_TOKEN
from .models import WecomConfig
from .services import wecom_config_save

DEMO_FAKE_URL = "http://127.0.0.1:8765/cgi-bin/"


def seed() -> None:
    if WecomConfig.objects.exists():
        return  # idempotent, and never overwrite what someone configured by hand
    wecom_config_save(
        corp_id=DEMO_CORP_ID,
        secret=DEMO_SECRET,
        token=DEMO_TOKEN,
        encoding_aes_key=DEMO_AES_KEY,
        api_base_url=DEMO_FAKE_URL,
        welcome_text="您好，我是您的专属导购，欢迎加入悦禾茶饮会员！",
    )
