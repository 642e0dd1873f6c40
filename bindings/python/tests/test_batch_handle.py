"""write_checkpoint lends its ids to the component as a handle: the consumer gets the
caller's own list, in order, and the ids never cross into the component."""

from pipeline_checkpoint import CheckpointManager, MemoryStorage


def test_consumer_receives_the_callers_list_itself(consumer):
    ids = [f"id-{i}" for i in range(10_000)]
    manager = CheckpointManager(MemoryStorage(), consumer)
    assert manager.write_checkpoint(ids, 1) is True
    assert consumer.acked[0] is ids
    assert consumer.acked[0] == [f"id-{i}" for i in range(10_000)]


def test_each_write_acks_its_own_batch_in_call_order(consumer):
    manager = CheckpointManager(MemoryStorage(), consumer)
    batches = [["a", "b"], [], ["c"], ("d", "e")]
    for offset, batch in enumerate(batches, start=1):
        assert manager.write_checkpoint(batch, offset) is True
    assert consumer.acked == batches


def test_ids_with_any_unicode_reach_the_consumer_unchanged(consumer):
    ids = ["", "ü", "\x00nul", "😀" * 100, "a" * 100_000]
    manager = CheckpointManager(MemoryStorage(), consumer)
    manager.write_checkpoint(ids, 1)
    assert consumer.acked == [ids]
