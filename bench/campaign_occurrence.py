"""Benchmark: one member-day occurrence over a large audience — snapshot, bonus points for every
member (ledger entries + lots + balances), optionally a reward gift (--reward-stock) and an SMS
outbox with rendered messages — then the same occurrence triggered again (must do nothing), run
in a separate "worker" process whose peak RSS is reported.

    DATABASE_URL=... .venv/bin/python bench/campaign_occurrence.py [--members 1000000]

It (re)creates its own brand `benchcampaign`: N members with membership and marketing_sms
consent (90% of them; the rest never consented), generated set-based.
"""

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench.members_data import indexes_deferred, insert_select, step  # noqa: E402
from campaigns.models import Campaign, Occurrence  # noqa: E402
from campaigns.services import campaign_publish, occurrence_ensure, occurrence_run  # noqa: E402
from consent.models import ConsentRecord, ConsentState  # noqa: E402
from consent.services.agreements import (  # noqa: E402
    agreement_create,
    agreement_version_draft_save,
    agreement_version_publish,
)
from consent.services.records import membership_version_current  # noqa: E402
from crm.tenancy.models import Brand, Domain  # noqa: E402
from crm.tenancy.services import brand_provision  # noqa: E402
from members.models import Member, Reward, Store  # noqa: E402

SLUG = "benchcampaign"


def generate(members: int) -> None:
    if Brand.objects.filter(schema_name=SLUG).exists():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{SLUG}" CASCADE')
        Domain.objects.filter(tenant__schema_name=SLUG).delete()
        Brand.objects.filter(schema_name=SLUG).delete()
    # Provisioning copies the template's storage settings (members_member fillfactor) itself.
    brand_provision(
        slug=SLUG,
        name="Campaign bench",
        domain=f"{SLUG}.localhost",
        admin_email="bench@bench.example",
        contact_address="上海市静安区南京西路 100 号",
        pi_contact="privacy@bench.example",
    )
    with schema_context(SLUG):
        marketing = agreement_create(code="marketing", kind="marketing", title="营销授权")
        draft = agreement_version_draft_save(
            agreement_id=marketing.pk, text="会员活动短信。", purposes=["marketing_sms"]
        )
        sms_version = agreement_version_publish(version_id=draft.pk, actor="bench")
        membership_version = membership_version_current()
        step("stores", insert_select(Store, {"code": "'C' || g", "name": "'门店' || g"}, "generate_series(1, 50) g"))
        with indexes_deferred(Member._meta.db_table):
            step(
                "members",
                insert_select(
                    Member,
                    {
                        "id": "g",
                        "member_no": "'C' || lpad(g::text, 9, '0')",
                        "name": "'会员' || g",
                        "mobile": "'+86137' || lpad(g::text, 8, '0')",
                        "home_store_id": "(SELECT min(id) FROM members_store) + g % 50",
                        "points_balance": "g % 500",
                    },
                    f"generate_series(1::bigint, {members}) g",
                ),
            )
        step("member id sequence", "SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members])
        # Two consent records per consenting member (membership, marketing_sms), ids 2g-1 and 2g.
        with (
            indexes_deferred(ConsentRecord._meta.db_table),
            indexes_deferred(ConsentState._meta.db_table),
        ):
            for offset, purpose, version in ((1, "membership", membership_version), (0, "marketing_sms", sms_version)):
                step(
                    f"consent records ({purpose})",
                    insert_select(
                        ConsentRecord,
                        {
                            "id": f"2 * g - {offset}",
                            "member_id": "g",
                            "version_id": str(version.pk),
                            "purpose": f"'{purpose}'",
                            "granted": "true",
                            "recorded_at": "now() - interval '30 days'",
                            "channel": "'import'",
                            "evidence": """'{"bench": true}'::jsonb""",
                        },
                        f"generate_series(1::bigint, {members}) g WHERE g % 10 <> 0",
                    ),
                )
                step(
                    f"consent states ({purpose})",
                    insert_select(
                        ConsentState,
                        {
                            "member_id": "g",
                            "purpose": f"'{purpose}'",
                            "granted": "true",
                            "needs_reconsent": "false",
                            "version_id": str(version.pk),
                            "record_id": f"2 * g - {offset}",
                            "updated_at": "now()",
                        },
                        f"generate_series(1::bigint, {members}) g WHERE g % 10 <> 0",
                    ),
                )
        step(
            "consent record id sequence",
            "SELECT setval(pg_get_serial_sequence('consent_consentrecord', 'id'), %s)",
            [2 * members],
        )
        step("analyze", "ANALYZE")


def worker(campaign_id: int, slot: dt.datetime, queue: "multiprocessing.Queue[dict[str, float]]") -> None:
    """What a celery worker does for the trigger: ensure the slot's occurrence and run it."""
    from django.db import connections

    connections.close_all()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with schema_context(SLUG):
        campaign = Campaign.objects.get(pk=campaign_id)
        start = time.perf_counter()
        occurrence, _ = occurrence_ensure(campaign=campaign, slot=slot)
        outcome = occurrence_run(occurrence_id=occurrence.pk)
        elapsed = time.perf_counter() - start
        occurrence.refresh_from_db()
    queue.put(
        {
            "outcome": outcome,
            "seconds": elapsed,
            "rss_start_mb": baseline / 1024,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "summary": occurrence.summary,
        }
    )


def run_in_worker(campaign_id: int, slot: dt.datetime) -> dict[str, float]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=worker, args=(campaign_id, slot, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument(
        "--reward-stock",
        type=int,
        default=None,
        help="also give a reward with this much stock (the rewards step); default: no reward",
    )
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.skip_generate:
        start = time.perf_counter()
        generate(args.members)
        print(f"generated {args.members:,} members in {time.perf_counter() - start:.1f} s")
    if args.generate_only:
        return
    with schema_context(SLUG):
        reward = None
        if args.reward_stock is not None:
            reward = Reward.objects.create(
                code=f"BENCH{Reward.objects.count() + 1}", name="基准礼品", points_cost=100, stock=args.reward_stock
            )
        campaign = Campaign.objects.create(
            name="会员日（基准）",
            frequency="daily",
            time_of_day=dt.time(10),
            bonus_points=20,
            holdout_pct=10,
            message_channel="sms",
            message_template="{name}，会员日快乐！您有{balance}积分，其中{expiring_points}即将过期。",
            reward=reward,
        )
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        slot = timezone.now().replace(microsecond=0)
    connection.close()

    first = run_in_worker(campaign.pk, slot)
    print(f"first run:  {first['outcome']} in {first['seconds']:.1f} s; {first['summary']}")
    in_steps = sum(step.get("seconds", 0) for step in first["summary"].values())
    print(f"            in the steps {in_steps:.1f} s; commits (deferred FK checks) and bookkeeping the rest")
    print(f"            worker RSS {first['rss_start_mb']:.0f} MB at start, peak {first['rss_peak_mb']:.0f} MB")
    again = run_in_worker(campaign.pk, slot)
    print(f"re-trigger: {again['outcome']} in {again['seconds']:.2f} s")
    with schema_context(SLUG):
        occurrence = Occurrence.objects.get(campaign=campaign)
        Occurrence.objects.filter(pk=occurrence.pk).update(status=Occurrence.Status.RUNNING, steps_done=[])
    resumed = run_in_worker(campaign.pk, slot)
    print(
        f"re-run of every step (crash before anything was recorded): {resumed['outcome']} in "
        f"{resumed['seconds']:.1f} s; {resumed['summary']}"
    )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
