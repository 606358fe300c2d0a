"""Benchmark: the CPU one /healthz probe spends on its migrations check, the old way (a
MigrationExecutor: the migration graph read and linked from every migration module, then the plan)
against the new (the graph once per process, crm/health.py; per probe one SELECT of
django_migrations and a set difference). A/B alternating in one process, so the machine's other
load hits both alike; CPU of this process (time.process_time), not wall time.

    DATABASE_URL=postgres://... .venv/bin/python bench/healthz_cpu.py [--probes 200]

Needs a migrated public schema (manage.py migrate_schemas --shared). Also reports a whole probe
(the view through Django's test client on the platform host: `manage.py create_platform` once).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor
    from django.test import Client

    from crm import health

    def old() -> list[str]:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return [f"{m.app_label}.{m.name}" for m, _ in plan]

    def new() -> list[str]:
        return list(health._check_migrations()["pending"])  # type: ignore[call-overload]

    assert old() == new(), (old(), new())  # the same answer; warms both (the new one's cache)
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(args.probes):
        for name, check in (("old", old), ("new", new)):
            start = time.process_time()
            check()
            cpu[name].append(time.process_time() - start)
    for name, samples in cpu.items():
        print(
            f"migrations check, {name}: median {statistics.median(samples) * 1000:.2f} ms CPU, "
            f"mean {statistics.mean(samples) * 1000:.2f} ms ({len(samples)} probes)"
        )

    # The whole probe, the old check and the new swapped into the view's checks, alternating.
    client = Client(HTTP_HOST="localhost")
    checks = {
        "old": tuple((n, (lambda: {"ok": not old()}) if n == "migrations" else c) for n, c in health.CHECKS),
        "new": health.CHECKS,
    }
    whole: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(args.probes // 2 or 1):
        for name, these in checks.items():
            health.CHECKS = these
            start = time.process_time()
            response = client.get("/healthz")
            whole[name].append(time.process_time() - start)
            assert response.status_code == 200, response.content
    for name, samples in whole.items():
        print(f"whole probe, {name}: median {statistics.median(samples) * 1000:.2f} ms CPU")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
