from django.db import migrations


class Migration(migrations.Migration):
    """members_member fillfactor 80 → 50, for set-based balance updates.

    A HOT update needs room for the new row version on the same page, and a page's old versions
    can only be pruned once the updating transaction has committed. A bulk bonus award (a
    campaign occurrence) or the nightly expiry updates most rows of every page in one
    transaction: at fillfactor 80 only ~30 % of them found room (measured: 25,643 of 81,077 HOT
    updates at 100k members), and every other update wrote an entry into each of the table's
    19 indexes. At 50 every page has room for a new version of each of its rows, and the award
    went 100 % HOT (awards step 9.3 s → 4.9 s at 100k members, bench/README.md). The price is a
    table about twice the size (a full scan — the audience snapshot — reads twice the pages).

    Applies to pages written from now on; `VACUUM FULL members_member` (or CLUSTER) rewrites an
    existing table. New brands get it from the template schema (brand_provision copies storage
    settings).
    """

    dependencies = [
        ("members", "0010_fewer_indexes_for_bulk_writes"),
    ]

    operations = [
        migrations.RunSQL(
            ["ALTER TABLE members_member SET (fillfactor = 50)"],
            reverse_sql=["ALTER TABLE members_member SET (fillfactor = 80)"],
        ),
    ]
