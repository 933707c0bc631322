"""The embedded broker writes each message atomically, so a consumer never reads a partial one."""

from __future__ import annotations

import os

from kombu import Connection

from node.broker import Transport


def _connection(folder) -> Connection:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(folder)}
    return Connection("filesystem://", transport=Transport, transport_options=options)


def test_message_round_trips_and_leaves_no_temporary_file(tmp_path):
    """A message put through the transport is read back whole; only the final .msg file existed."""
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("hub")
        queue.put({"text": "县里的消息"})
        assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []
        message = queue.get(timeout=2)
        assert message.payload == {"text": "县里的消息"}
        message.ack()
        queue.close()


def test_consumer_skips_a_message_still_being_written(tmp_path):
    """A half-written temporary file (a producer not finished, or killed) is never consumed."""
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("relay")
        (tmp_path / ".1_abc.relay.msg.tmp").write_bytes(b'{"bo')
        queue.put({"n": 1})
        message = queue.get(timeout=2)
        assert message.payload == {"n": 1}
        message.ack()
        assert (tmp_path / ".1_abc.relay.msg.tmp").exists()
        queue.close()
