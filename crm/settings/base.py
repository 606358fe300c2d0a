"""Settings shared by every environment, one module per topic; dev.py, test.py and prod.py start
from here. Values that differ per machine come from environment variables (README)."""

from .api import *  # noqa: F403 - partner API, webhooks and other outbound calls
from .apps import *  # noqa: F403 - the apps: public schema and brand schemas (django-tenants)
from .cache import *  # noqa: F403
from .database import *  # noqa: F403
from .environment import *  # noqa: F403 - BASE_DIR, DATA_DIR, env_bool, env_list, secret, hosts
from .features import *  # noqa: F403 - knobs of single capabilities
from .i18n import *  # noqa: F403 - language and time
from .logs import *  # noqa: F403
from .queues import *  # noqa: F403 - celery
from .schedule import *  # noqa: F403 - the beat schedule
from .security import *  # noqa: F403 - logins, sessions, lockouts, Content-Security-Policy
from .web import *  # noqa: F403 - middleware, templates, static files, the back office's theme
