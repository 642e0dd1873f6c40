"""The seed's documented behaviour, kept; its two defects, not."""

import json

import pytest

from pipeline_checkpoint import CHECKPOINT_KEY, CheckpointManager, InvalidArgument, MemoryStorage


def test_offset_is_put_before_the_batch_is_acked(storage, consumer, journal):
    manager = CheckpointManager(storage, consumer)
    assert manager.write_checkpoint(["m1", "m2"], 7) is True
    kinds = journal.kinds()
    assert "put" in kinds and "ack" in kinds
    assert kinds.index("put") < kinds.index("ack")
    assert journal.events[-1] == ("ack", ["m1", "m2"])


def test_failed_put_returns_false_and_acks_nothing(storage, consumer, journal):
    manager = CheckpointManager(storage, consumer)
    assert manager.write_checkpoint(["a"], 1) is True
    storage.put_result = False
    assert manager.write_checkpoint(["b"], 2) is False
    assert consumer.acked == [["a"]]
    assert manager.last_write_error is not None and manager.last_write_error.kind == "io"
    storage.put_result = True
    assert manager.get_checkpoint() == 1
    # The batch is retried from the previous offset and then succeeds.
    assert manager.write_checkpoint(["b"], 2) is True
    assert consumer.acked == [["a"], ["b"]]
    assert manager.last_write_error is None


def test_checkpoint_is_zero_when_no_record_exists(storage, consumer):
    assert CheckpointManager(storage, consumer).get_checkpoint() == 0


def test_get_checkpoint_only_reads(storage, consumer, journal):
    CheckpointManager(storage, consumer).write_checkpoint([], 5)
    before = dict(storage.values)
    journal.events.clear()
    reader = CheckpointManager(storage, consumer)
    assert [reader.get_checkpoint() for _ in range(3)] == [5, 5, 5]
    assert set(journal.kinds()) == {"get"}
    assert storage.values == before


def test_record_holds_exactly_offset_and_written_at_under_the_seeds_key(storage, consumer):
    CheckpointManager(storage, consumer).write_checkpoint(["a"], 42)
    record = json.loads(storage.values[CHECKPOINT_KEY])
    assert set(record) == {"offset", "written_at"}
    assert record["offset"] == 42 and isinstance(record["written_at"], float)


def test_record_written_by_the_seed_class_is_read(seed_module, storage, consumer):
    seed = seed_module.CheckpointManager(storage, consumer)
    assert seed.write_checkpoint(["s"], 12) is True
    manager = CheckpointManager(storage, consumer)
    assert manager.get_checkpoint() == 12
    assert manager.write_checkpoint(["t"], 13) is True


def test_record_written_here_is_read_by_the_seed_class(seed_module, storage, consumer):
    CheckpointManager(storage, consumer).write_checkpoint([], 99)
    # The seed's read adds last_read_at to the record; it must still read here after.
    assert seed_module.CheckpointManager(storage, consumer).get_checkpoint() == 99
    assert "last_read_at" in json.loads(storage.values[CHECKPOINT_KEY])
    assert CheckpointManager(storage, consumer).get_checkpoint() == 99


def test_extra_fields_in_the_record_are_tolerated(storage, consumer):
    storage.values[CHECKPOINT_KEY] = json.dumps({"offset": 8, "written_at": 1.5, "owner": "w1", "nested": {"a": [1]}})
    manager = CheckpointManager(storage, consumer)
    assert manager.get_checkpoint() == 8
    assert manager.write_checkpoint(["x"], 9) is True
    assert json.loads(storage.values[CHECKPOINT_KEY])["offset"] == 9


def test_custom_key_is_used_for_reads_and_writes(storage, consumer):
    manager = CheckpointManager(storage, consumer, key="tenants/a/ckpt.json")
    manager.write_checkpoint([], 3)
    assert list(storage.values) == ["tenants/a/ckpt.json"]
    assert CheckpointManager(storage, consumer, key="tenants/a/ckpt.json").get_checkpoint() == 3
    assert CheckpointManager(storage, consumer).get_checkpoint() == 0
    assert manager.key == "tenants/a/ckpt.json"


def test_writing_the_durable_offset_again_acks_again_without_rewriting(storage, consumer, journal):
    manager = CheckpointManager(storage, consumer)
    manager.write_checkpoint(["a"], 4)
    journal.events.clear()
    assert manager.write_checkpoint(["a"], 4) is True
    assert journal.kinds() == ["ack"]


def test_largest_u64_offset_round_trips(consumer):
    storage = MemoryStorage()
    manager = CheckpointManager(storage, consumer)
    assert manager.write_checkpoint([], 2**64 - 1) is True
    assert CheckpointManager(storage, consumer).get_checkpoint() == 2**64 - 1
    assert json.loads(storage.value(CHECKPOINT_KEY))["offset"] == 2**64 - 1


@pytest.mark.parametrize("offset", [-1, 2**64, 2**100, 1.0, float("nan"), True, False, "3", None, b"1"])
def test_offsets_the_contract_cannot_carry_are_refused_before_any_call(storage, consumer, journal, offset):
    manager = CheckpointManager(storage, consumer)
    with pytest.raises(InvalidArgument):
        manager.write_checkpoint(["a"], offset)
    assert journal.events == []


@pytest.mark.parametrize("ids", ["abc", ["a", 1], [None], None, {"a"}, [b"a"], 7])
def test_batch_ids_that_are_not_a_list_of_str_are_refused_before_any_call(storage, consumer, journal, ids):
    manager = CheckpointManager(storage, consumer)
    with pytest.raises(InvalidArgument) as raised:
        manager.write_checkpoint(ids, 1)
    assert isinstance(raised.value, (TypeError, ValueError))
    assert journal.events == []


def test_key_that_is_not_a_str_is_refused(storage, consumer):
    with pytest.raises(InvalidArgument):
        CheckpointManager(storage, consumer, key=b"k")


def test_objects_without_the_protocols_are_refused(consumer, storage):
    with pytest.raises(InvalidArgument):
        CheckpointManager(object(), consumer)
    with pytest.raises(InvalidArgument):
        CheckpointManager(storage, object())
