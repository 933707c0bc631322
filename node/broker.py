"""The embedded broker: kombu's file-system transport, with messages written atomically.

kombu 5.7's ``filesystem`` transport creates ``<name>.<queue>.msg`` and then writes into it,
while a consumer may already have moved the file away and read it empty: the worker then dies
with ``JSONDecodeError`` ("Unrecoverable error") and the node stops processing. Here a message
is written to a hidden temporary name the consumer ignores and renamed into place, so a reader
only ever sees complete messages. Selected by ``CELERY_BROKER_TRANSPORT`` in ``node/settings.py``.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    """File-system channel whose ``_put`` is atomic (write, fsync-free, then rename)."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Put ``payload`` onto ``queue``: complete on disk before any consumer can see it."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # The consumer takes only files named "<stamp>_<uuid>.<queue>.msg": a leading dot makes
        # the part after the first dot "<stamp>_<uuid>.<queue>.msg.tmp", which it skips.
        temp = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(temp, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(temp, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """kombu's file-system transport with :class:`Channel`."""

    Channel = Channel
