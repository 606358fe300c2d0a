"""Settings, split by environment and by topic.

Environments: dev (`dev.py serve`), test (`dev.py test`), prod (docs/deploy.md) each start from
base, which gathers one module per topic: environment, apps, database, cache, web, security,
i18n, queues (celery), schedule (every beat entry), api (partner API and outbound calls),
features (knobs of single capabilities), logs. Everything that differs between machines comes
from environment variables (README, "Configuration").
"""
