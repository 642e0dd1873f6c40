"""Managers in several threads at once: each call reaches its own manager's storage
and consumer, and a shared manager serializes its callers."""

import threading

from pipeline_checkpoint import CheckpointManager, MemoryConsumer, MemoryStorage


def test_managers_in_parallel_threads_each_reach_only_their_own_consumer():
    storage = MemoryStorage()
    consumers = [MemoryConsumer() for _ in range(4)]

    def work(n):
        manager = CheckpointManager(storage, consumers[n], key=f"worker-{n}/ckpt.json")
        for offset in range(1, 201):
            assert manager.write_checkpoint([f"w{n}-{offset}"], offset) is True

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, consumer in enumerate(consumers):
        assert consumer.acked == [[f"w{n}-{offset}"] for offset in range(1, 201)]
        assert CheckpointManager(storage, MemoryConsumer(), key=f"worker-{n}/ckpt.json").get_checkpoint() == 200


def test_one_manager_shared_by_threads_serializes_their_calls():
    consumer = MemoryConsumer()
    manager = CheckpointManager(MemoryStorage(), consumer)
    readings = [[] for _ in range(3)]

    def write():
        for offset in range(1, 301):
            assert manager.write_checkpoint([str(offset)], offset) is True

    def read(n):
        for _ in range(300):
            readings[n].append(manager.get_checkpoint())

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert consumer.acked == [[str(i)] for i in range(1, 301)]
    for seen in readings:
        assert seen == sorted(seen) and all(0 <= offset <= 300 for offset in seen)
