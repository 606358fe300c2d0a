"""Language and time: Chinese pages, the partner API in zh-hans or en, brand-local times."""

from .environment import BASE_DIR

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Chinese-style dates and times in the back office: 2026-11-07 07:39 (crm/formats/).
FORMAT_MODULE_PATH = ["crm.formats"]
# The platform's zone; each brand has its own (Brand.time_zone, crm/tenancy/zones.py).
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True
