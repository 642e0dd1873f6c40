"""Every case of the contract's checkpoint-error, reached through real storages and
consumers, raised as its typed exception with nothing written or acked that the
contract forbids."""

import json

import pytest

from pipeline_checkpoint import (
    CHECKPOINT_KEY,
    AckFailed,
    AckFailure,
    CheckpointError,
    CheckpointManager,
    CorruptRecord,
    Fenced,
    MemoryStorage,
    OffsetRegression,
    ReadFailed,
    StorageFailure,
    WriteFailed,
)

from conftest import Consumer, SeedStorage

CORRUPT = {
    "empty": "",
    "nul bytes": '{"offset":1}\x00',
    "invalid json": '{"offset":',
    "not an object": "[1, 2]",
    "null": "null",
    "missing offset": '{"written_at": 1.0}',
    "negative offset": '{"offset": -1, "written_at": 1.0}',
    "float offset": '{"offset": 1.5, "written_at": 1.0}',
    "string offset": '{"offset": "3", "written_at": 1.0}',
    "offset over u64": '{"offset": 18446744073709551616, "written_at": 1.0}',
    "garbage": "\ufffd\ufffd",
}


@pytest.mark.parametrize("record", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_record_is_reported_and_never_overwritten(storage, consumer, journal, record):
    storage.values[CHECKPOINT_KEY] = record
    manager = CheckpointManager(storage, consumer)
    with pytest.raises(CorruptRecord):
        manager.get_checkpoint()
    with pytest.raises(CorruptRecord):
        manager.write_checkpoint(["a"], 5)
    assert "put" not in journal.kinds() and consumer.acked == []
    assert storage.values[CHECKPOINT_KEY] == record


def test_lower_offset_is_refused_with_both_offsets(storage, consumer, journal):
    CheckpointManager(storage, consumer).write_checkpoint([], 10)
    journal.events.clear()
    restarted = CheckpointManager(storage, consumer)
    with pytest.raises(OffsetRegression) as raised:
        restarted.write_checkpoint(["late"], 9)
    assert (raised.value.durable, raised.value.requested) == (10, 9)
    assert journal.kinds() == ["get"] and ["late"] not in consumer.acked


@pytest.mark.parametrize("make_storage", [SeedStorage, MemoryStorage], ids=["unversioned", "versioned"])
def test_manager_overtaken_by_another_writer_is_fenced_for_good(make_storage, consumer):
    storage = make_storage()
    stale = CheckpointManager(storage, consumer)
    assert stale.write_checkpoint(["a"], 1) is True
    successor = CheckpointManager(storage, consumer)
    assert successor.write_checkpoint(["b"], 2) is True
    for offset in (3, 4):
        with pytest.raises(Fenced):
            stale.write_checkpoint(["stale"], offset)
    assert CheckpointManager(storage, consumer).get_checkpoint() == 2
    assert ["stale"] not in consumer.acked


def test_consumer_that_raises_gives_ack_failed_with_the_offset_durable(storage, journal):
    class Flaky(Consumer):
        fail = True

        def ack(self, message_ids):
            if self.fail:
                raise ConnectionError("broker gone")
            super().ack(message_ids)

    consumer = Flaky(journal)
    manager = CheckpointManager(storage, consumer)
    with pytest.raises(AckFailed) as raised:
        manager.write_checkpoint(["a"], 3)
    assert raised.value.offset == 3 and raised.value.kind == "unavailable"
    assert isinstance(raised.value.__cause__, ConnectionError)
    assert json.loads(storage.values[CHECKPOINT_KEY])["offset"] == 3
    consumer.fail = False
    assert manager.write_checkpoint(["a"], 3) is True
    assert consumer.acked == [["a"]]


def test_consumer_can_say_why_an_ack_failed(storage):
    class Refusing:
        def ack(self, message_ids):
            raise AckFailure("rejected", "lease lost")

    with pytest.raises(AckFailed) as raised:
        CheckpointManager(storage, Refusing()).write_checkpoint(["a"], 1)
    assert raised.value.kind == "rejected" and "lease lost" in str(raised.value)


def test_get_that_raises_gives_read_failed_and_nothing_is_written(storage, consumer, journal):
    def broken_get(key):
        raise OSError("disk on fire")

    storage.get = broken_get
    manager = CheckpointManager(storage, consumer)
    for call in (manager.get_checkpoint, lambda: manager.write_checkpoint(["a"], 1)):
        with pytest.raises(ReadFailed) as raised:
            call()
        assert raised.value.kind == "io" and isinstance(raised.value.__cause__, OSError)
    assert "put" not in journal.kinds() and consumer.acked == []


def test_versioned_get_can_report_its_failure_kind(consumer):
    class Down(MemoryStorage):
        def get_versioned(self, key):
            raise StorageFailure("unavailable", "etcd timed out")

    with pytest.raises(ReadFailed) as raised:
        CheckpointManager(Down(), consumer).get_checkpoint()
    assert raised.value.kind == "unavailable" and "etcd timed out" in raised.value.detail


def test_bytes_that_are_not_text_are_a_corrupt_record(consumer):
    class Binary(MemoryStorage):
        def get_versioned(self, key):
            raise StorageFailure("invalid-data", "not UTF-8")

    with pytest.raises(CorruptRecord):
        CheckpointManager(Binary(), consumer).get_checkpoint()
    lone_surrogate = SeedStorage()
    lone_surrogate.values[CHECKPOINT_KEY] = '{"offset":1}\ud800'
    with pytest.raises(CorruptRecord):
        CheckpointManager(lone_surrogate, consumer).get_checkpoint()


def test_put_that_raises_gives_write_failed_chained_and_acks_nothing(storage, consumer):
    def broken_put(key, value):
        raise PermissionError("read-only bucket")

    storage.put = broken_put
    with pytest.raises(WriteFailed) as raised:
        CheckpointManager(storage, consumer).write_checkpoint(["a"], 1)
    assert isinstance(raised.value.__cause__, PermissionError)
    assert consumer.acked == []


def test_versioned_put_reporting_a_failure_returns_false_with_its_kind(consumer):
    class Full(MemoryStorage):
        def put_versioned(self, key, value, expected):
            raise StorageFailure("no-space", "quota exceeded")

    manager = CheckpointManager(Full(), consumer)
    assert manager.write_checkpoint(["a"], 1) is False
    assert manager.last_write_error.kind == "no-space"
    assert consumer.acked == []


def test_every_error_is_a_checkpoint_error():
    for cls in (AckFailed, CorruptRecord, Fenced, OffsetRegression, ReadFailed, WriteFailed):
        assert issubclass(cls, CheckpointError)
