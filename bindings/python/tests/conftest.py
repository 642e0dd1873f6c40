"""Storages and consumers that record what the manager does to them."""

import importlib.util
from pathlib import Path
from typing import List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
SEED_BENCH = REPO / "host-example" / "host" / "benches" / "seed_bench.py"


class Journal:
    """One ordered log of every storage and consumer call, to check their order."""

    def __init__(self) -> None:
        self.events: List[tuple] = []

    def kinds(self) -> List[str]:
        return [event[0] for event in self.events]


class SeedStorage:
    """The seed's unversioned protocol over a dict; `put_result` makes puts fail."""

    def __init__(self, journal: Optional[Journal] = None) -> None:
        self.values = {}
        self.journal = journal or Journal()
        self.put_result = True

    def put(self, key: str, value: str) -> bool:
        self.journal.events.append(("put", key, value))
        if self.put_result is True:
            self.values[key] = value
        return self.put_result

    def get(self, key: str) -> Optional[str]:
        self.journal.events.append(("get", key))
        return self.values.get(key)


class Consumer:
    def __init__(self, journal: Optional[Journal] = None) -> None:
        self.journal = journal or Journal()
        self.acked: List[object] = []

    def ack(self, message_ids) -> None:
        self.journal.events.append(("ack", list(message_ids)))
        self.acked.append(message_ids)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def storage(journal: Journal) -> SeedStorage:
    return SeedStorage(journal)


@pytest.fixture
def consumer(journal: Journal) -> Consumer:
    return Consumer(journal)


@pytest.fixture
def seed_module():
    """host-example/host/benches/seed_bench.py: the seed's class, ack order fixed."""
    if not SEED_BENCH.is_file():
        pytest.skip(f"{SEED_BENCH} is not here: the tests run from a clone of the repository")
    spec = importlib.util.spec_from_file_location("seed_bench", SEED_BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
