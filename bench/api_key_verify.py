"""Benchmark: partner API key verification (target ≤ 1 ms per verification).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/api_key_verify.py [--n 5000]

Uses its own brand `benchapi` (host benchapi.localhost) in the database of DATABASE_URL, created
with the real provisioning service if missing (needs the public schema migrated: `python3 dev.py
serve` did it, or run `manage.py migrate_schemas --shared` first). It fills the brand with 10,000
keys (so the lookup is an index probe in a realistic table, not a scan of one row), then times
`api_key_verify()` — the key check the API's authentication runs (without the rate count it
shares a Redis call with): parse, the key (with its partner) as this process remembers it under
the brand's key generation (one Redis GET, with Redis as the cache) or else one indexed SELECT by
prefix, SHA-256 and a constant-time compare, revocation/expiry checks. It times both: a key the
process remembers (every request after a key's first) and one it must read (the process's memory
emptied before each call; every call without Redis). For comparison, a whole authenticated
GET /api/v1/webhooks through Django in-process.
Safe to re-run; it leaves the bench brand in place.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ.setdefault("DEBUG", "false")  # DEBUG records every query: not what production measures

import django

django.setup()

from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.api.keys import key_generate  # noqa: E402
from crm.api.models import ApiKey, Partner  # noqa: E402
from crm.api.remembered_keys import api_keys_forget  # noqa: E402
from crm.api.services import api_key_create, api_key_verify  # noqa: E402
from crm.tenancy.services import brand_provision  # noqa: E402

SLUG = "benchapi"
FILLER_KEYS = 10_000


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, samples_s: list[float]) -> None:
    ms = [s * 1000 for s in samples_s]
    print(
        f"{label:<44} n={len(ms):>5}  mean {statistics.mean(ms):.3f} ms  p50 {percentile(ms, 0.5):.3f} ms  "
        f"p99 {percentile(ms, 0.99):.3f} ms  max {max(ms):.3f} ms"
    )


def main(n: int) -> None:
    brand_provision(slug=SLUG, name="API bench", domain=f"{SLUG}.localhost", admin_email="bench@bench.example")
    with schema_context(SLUG):
        partner, _ = Partner.objects.get_or_create(name="bench filler")
        missing = FILLER_KEYS - ApiKey.objects.filter(partner=partner).count()
        if missing > 0:
            ApiKey.objects.bulk_create(
                [
                    ApiKey(partner=partner, prefix=prefix, secret_hash=hashed, scopes=["members:read"])
                    for _, prefix, hashed in (key_generate() for _ in range(missing))
                ],
                batch_size=2000,
            )
        raw = api_key_create(partner_name="bench", scopes=["webhooks:manage"]).plaintext
        for _ in range(200):  # warm the connection, the plan cache and last_used_at
            api_key_verify(raw_key=raw)
        samples = []
        cpu_start = time.process_time()
        for _ in range(n):
            start = time.perf_counter()
            api_key_verify(raw_key=raw)
            samples.append(time.perf_counter() - start)
        cpu_per_call = (time.process_time() - cpu_start) / n
        read_samples = []
        for _ in range(n):
            api_keys_forget()
            start = time.perf_counter()
            api_key_verify(raw_key=raw)
            read_samples.append(time.perf_counter() - start)
        keys = ApiKey.objects.count()

    client = Client(HTTP_HOST=f"{SLUG}.localhost", HTTP_AUTHORIZATION=f"Api-Key {raw}")
    for _ in range(50):
        assert client.get("/api/v1/webhooks").status_code == 200
    requests = []
    for _ in range(min(n, 1000)):
        start = time.perf_counter()
        client.get("/api/v1/webhooks")
        requests.append(time.perf_counter() - start)

    print(f"brand {SLUG}: {keys} API keys; PostgreSQL {os.environ.get('DATABASE_URL', '?').split('@')[-1]}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work skews wall times)")
    report("api_key_verify() (target <= 1 ms)", samples)
    print(f"{'  of which CPU in this process':<44} {cpu_per_call * 1000:.3f} ms per call (rest: the round trip)")
    report("api_key_verify(), key read from PostgreSQL", read_samples)
    report("GET /api/v1/webhooks in-process (context)", requests)
    verdict = "OK" if percentile([s * 1000 for s in samples], 0.99) <= 1.0 else "OVER TARGET"
    print(f"p99 verification vs 1 ms target: {verdict}")


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 5000
    main(count)
