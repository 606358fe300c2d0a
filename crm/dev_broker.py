"""The development broker: kombu's filesystem transport, with each message written atomically.

kombu's filesystem channel creates a message file under its final name and then writes it, while
a consumer takes any file with that name at once, without waiting for the writer's lock: a worker
polling at the wrong moment read an empty file and died ("Unrecoverable error: JSONDecodeError").
Here a message is written under a name consumers ignore and renamed into place when complete
(a rename within one folder is atomic on POSIX). The settings map the `filesystem://` scheme to
it whenever that is the broker; production uses Redis.
"""

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # The stubs give kombu's filesystem channel this signature and its base another (kombu's own
    # _put differs from the base's the same way); this is the filesystem one.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        # The same name kombu gives it: consumers take "<time>_<uuid>.<queue>.msg" in time order.
        filename = os.path.join(self.data_folder_out, f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        partial = f"{filename}.partial"  # not "<queue>.msg" after its first dot: no consumer takes it
        try:
            with open(partial, "wb") as f:
                f.write(dumps(payload).encode())
            os.replace(partial, filename)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {filename!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
