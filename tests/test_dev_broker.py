"""The development broker (crm/dev_broker.py): a message appears in the queue folder only whole,
so a worker polling while it is written never reads a half-written file and dies."""

from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.utils.json import dumps as dev_broker_dumps

from crm.dev_broker import Channel, Transport


@pytest.fixture
def channel(tmp_path: Path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    # The transport named, as the settings map filesystem:// to it only when that is the broker.
    with Connection("filesystem://localhost/", transport=Transport, transport_options=options) as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        yield channel, folder


def test_a_message_is_renamed_into_the_queue_whole(channel):
    chan, folder = channel
    chan._put("orders", {"body": "会员日", "n": 1})

    assert [p.name.endswith(".orders.msg") for p in folder.iterdir()] == [True]
    assert chan._get("orders") == {"body": "会员日", "n": 1}


def test_a_worker_polling_while_a_message_is_written_takes_nothing(channel, monkeypatch):
    chan, _folder = channel
    polled = []

    def dumps_while_a_worker_polls(payload):
        # The writer has opened its file and is about to write: a worker polls now.
        with pytest.raises(Empty):
            chan._get("orders")
        polled.append(True)
        return dev_broker_dumps(payload)

    monkeypatch.setattr("crm.dev_broker.dumps", dumps_while_a_worker_polls)
    chan._put("orders", {"n": 2})

    assert polled == [True]
    assert chan._get("orders") == {"n": 2}
