"""A failed instance is never reused: the call raises ComponentTrapped, and the next
call runs on a fresh instance that reads the stored record before it writes."""

import pytest

from pipeline_checkpoint import CHECKPOINT_KEY, CheckpointError, CheckpointManager, ComponentTrapped, WriteFailed

from conftest import SeedStorage


class Switchable(SeedStorage):
    """A storage whose get misbehaves while `mode` is set."""

    mode = None

    def get(self, key):
        super().get(key)
        if self.mode == "huge":
            # Larger than an instance may grow its memory to: the component traps
            # while receiving it.
            return '{"offset":1,"written_at":1.0}' + " " * (32 << 20)
        if self.mode == "wrong type":
            return 42
        return self.values.get(key)


@pytest.mark.parametrize("mode", ["huge", "wrong type"])
def test_trap_discards_the_instance_and_the_next_call_recovers(consumer, journal, mode):
    storage = Switchable(journal)
    manager = CheckpointManager(storage, consumer)
    assert manager.write_checkpoint(["a"], 5) is True
    fresh = CheckpointManager(storage, consumer)
    storage.mode = mode
    with pytest.raises(ComponentTrapped) as raised:
        fresh.get_checkpoint()
    assert raised.value.reopened is True
    assert "discarded" in str(raised.value)
    storage.mode = None
    journal.events.clear()
    assert fresh.write_checkpoint(["b"], 6) is True
    # The fresh instance read the record before it wrote over it.
    assert journal.kinds()[0] == "get" and "put" in journal.kinds()


def test_wrong_type_from_storage_names_the_fault(consumer):
    storage = Switchable()
    storage.mode = "wrong type"
    with pytest.raises(ComponentTrapped) as raised:
        CheckpointManager(storage, consumer).get_checkpoint()
    assert "storage.get returned int" in str(raised.value)
    assert raised.value.__cause__ is not None


def test_put_returning_neither_true_nor_false_traps_and_acks_nothing(storage, consumer):
    storage.put_result = None
    manager = CheckpointManager(storage, consumer)
    with pytest.raises(ComponentTrapped) as raised:
        manager.write_checkpoint(["a"], 1)
    assert "storage.put returned None" in str(raised.value)
    assert consumer.acked == []
    storage.put_result = True
    assert manager.write_checkpoint(["a"], 1) is True


def test_keyboard_interrupt_in_ack_propagates_and_the_manager_recovers(storage):
    class Interrupted:
        interrupt = True
        acked = []

        def ack(self, message_ids):
            if self.interrupt:
                raise KeyboardInterrupt
            self.acked.append(list(message_ids))

    consumer = Interrupted()
    manager = CheckpointManager(storage, consumer)
    with pytest.raises(KeyboardInterrupt):
        manager.write_checkpoint(["a"], 2)
    assert CHECKPOINT_KEY in storage.values  # the put had returned: the offset is durable
    consumer.interrupt = False
    assert manager.write_checkpoint(["a"], 2) is True
    assert consumer.acked == [["a"]]


def test_calling_the_manager_from_its_own_storage_is_refused_not_reentered(consumer):
    class Reentrant(SeedStorage):
        manager = None
        reenter = True

        def put(self, key, value):
            if self.reenter:
                self.manager.get_checkpoint()
            return super().put(key, value)

    storage = Reentrant()
    manager = storage.manager = CheckpointManager(storage, consumer)
    with pytest.raises(WriteFailed) as raised:
        manager.write_checkpoint(["a"], 1)
    assert isinstance(raised.value.__cause__, CheckpointError)
    assert "re-entered" in str(raised.value.__cause__)
    storage.reenter = False
    assert manager.write_checkpoint(["a"], 1) is True
