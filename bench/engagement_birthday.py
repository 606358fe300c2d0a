"""Benchmark: the birthday job over N members (issue 27).

Target: over 1,000,000 members (≈ 2,700 due a day) the daily run ≤ 10 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/engagement_birthday.py \
        [--members 1000000] [--regenerate] [--growth 20]

It provisions (idempotently) the brand `benchbirthday<N/1000>k` and, the first time (or with --regenerate),
fills it set-based: `--members` members (birthdays spread over the year, four tiers, one birthday
benefit per tier giving points and a ×2 window), without per-row Python. Each run then picks a day
no earlier run used, clears the job's progress mark, and times `birthday_release_due()` at 00:10
brand time that day: the grants (INSERT ... SELECT over the members born that day, per tier) and
their points (members' set-based bonus award). For context it also times the floor: one scan
counting the members born on that month and day, the least any implementation must read without
an index of its own. Then it runs the job again the same day and checks it grants nothing.
"""

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"

import django  # noqa: E402

django.setup()

import time_machine  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from members_data import insert_select  # noqa: E402

from crm.tenancy.services import brand_provision, platform_ensure  # noqa: E402
from engagement.models import BirthdayBenefit, BirthdayGrant, BirthdayJobState  # noqa: E402
from engagement.services.birthday import birthday_release_due  # noqa: E402
from members.models import Member, Tier  # noqa: E402
from tests.clock import SHANGHAI  # noqa: E402

SLUG = "benchbirthday"  # + the scale, e.g. benchbirthday1000k


def benefits_set(growth: int) -> None:
    """Each tier's gift: points and a ×2 window, plus `growth` value (0: none). With growth, the top
    tier qualifies on growth value, so the job's tier lift (qualifying amounts per chunk) runs too."""
    for tier in Tier.objects.order_by("rank"):
        BirthdayBenefit.objects.update_or_create(
            tier=tier, defaults={"points": 10 * tier.rank, "multiplier_pct": 200, "window_days": 7, "growth": growth}
        )
    top = Tier.objects.order_by("-rank").first()
    if top is not None:
        top.basis = Tier.Basis.GROWTH if growth else Tier.Basis.SPEND
        top.save(update_fields=["basis"])


def setup(members: int, regenerate: bool) -> None:
    global SLUG
    SLUG = f"benchbirthday{members // 1000}k"  # one brand per scale: a new size needs no drop
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenancy_brand') IS NOT NULL")
        if not cursor.fetchone()[0]:
            call_command("migrate_schemas", "--shared", "--noinput", verbosity=0)
    platform_ensure(domain="localhost")
    brand_provision(
        slug=SLUG,
        name="Birthday bench",
        domain=f"{SLUG}.localhost",
        admin_email="bench@birthday.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG):
        have = Member.objects.count()
        if have == members and not regenerate:
            return
        if have:
            raise SystemExit(f"{SLUG} holds {have} members; drop the schema to regenerate with another size")
        tiers = [
            Tier.objects.get_or_create(code=f"t{n}", defaults={"name": name, "rank": n, "threshold": n * 100_000})[0]
            for n, name in enumerate(["普通", "银卡", "金卡", "钻石"], start=1)
        ]
        ids = [t.pk for t in tiers]
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                insert_select(
                    Member,
                    {
                        "id": "g",
                        "member_no": "'D' || lpad(g::text, 9, '0')",
                        "birthday": "date '1970-01-01' + (((g * 7919) % 365) + (g % 40) * 365)::integer",
                        "enrolled_at": "now() - interval '400 days'",
                        "tier_id": f"(ARRAY{ids})[1 + g % 4]",
                    },
                    f"generate_series(1::bigint, {members}) g",
                )
            )
            cursor.execute("SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members])
            cursor.execute("VACUUM (ANALYZE) members_member")
        print(f"generated {members:,} members in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--growth", type=int, default=0, help="growth value in every tier's gift (0: none)")
    args = parser.parse_args()
    setup(args.members, args.regenerate)
    with schema_context(SLUG):
        benefits_set(args.growth)
        used = set(BirthdayGrant.objects.values_list("release_date", flat=True).distinct())
        day = dt.date(2031, 3, 2)
        while day in used:
            day += dt.timedelta(days=1)
        BirthdayJobState.objects.all().delete()
        with connection.cursor() as cursor:
            while True:  # a day somebody is born on (the generator leaves a few days of the year empty)
                started = time.perf_counter()
                cursor.execute(
                    "SELECT count(*) FROM members_member WHERE EXTRACT(MONTH FROM birthday) = %s "
                    "AND EXTRACT(DAY FROM birthday) = %s",
                    [day.month, day.day],
                )
                due = cursor.fetchone()[0]
                floor = time.perf_counter() - started
                if due:
                    break
                day += dt.timedelta(days=1)
                while day in used:
                    day += dt.timedelta(days=1)
        with time_machine.travel(dt.datetime.combine(day, dt.time(0, 10), tzinfo=SHANGHAI), tick=True):
            started = time.perf_counter()
            summary = birthday_release_due()
            took = time.perf_counter() - started
            again = birthday_release_due()
        print(
            f"{args.members:,} members, growth gift {args.growth}, day {day}: {due:,} born that day, "
            f"granted {summary['granted']:,} "
            f"in {took:.2f} s (target ≤ 10 s at 1M); floor (one scan counting them) {floor * 1000:.0f} ms, "
            f"ratio {took / floor:.1f}×; second run granted {again['granted']}; load average {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
