"""FileStorage: the seed-readable record file, key rules, symlinks, debris, and a
compare-and-swap that fences a writer in another process."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pipeline_checkpoint import (
    CheckpointManager,
    CorruptRecord,
    Fenced,
    FileStorage,
    MemoryConsumer,
    ReadFailed,
    StorageFailure,
    VersionConflict,
    content_version,
)


def test_record_file_holds_the_json_the_seed_reads(tmp_path, seed_module):
    storage = FileStorage(tmp_path)
    CheckpointManager(storage, MemoryConsumer()).write_checkpoint(["a"], 17)
    with open(tmp_path / "pipeline" / "checkpoint.json") as f:
        assert json.load(f)["offset"] == 17
    # The seed's own durable storage reads it, and what it writes reads here.
    seed_storage = seed_module.FileStorage(str(tmp_path))
    assert seed_module.CheckpointManager(seed_storage, MemoryConsumer()).write_checkpoint([], 18)
    assert CheckpointManager(storage, MemoryConsumer()).get_checkpoint() == 18


def test_versions_are_content_hashes_and_a_stale_version_writes_nothing(tmp_path):
    storage = FileStorage(tmp_path)
    first = storage.put_versioned("k", "one", None)
    assert first == content_version("one")
    assert storage.get_versioned("k") == ("one", first)
    with pytest.raises(VersionConflict):
        storage.put_versioned("k", "two", None)
    with pytest.raises(VersionConflict):
        storage.put_versioned("k", "two", first + 1)
    assert storage.get("k") == "one"
    assert storage.put_versioned("k", "two", first) == content_version("two")


def test_puts_leave_no_temporary_files_and_debris_is_cleaned(tmp_path):
    storage = FileStorage(tmp_path)
    debris = tmp_path / "pipeline" / ".checkpoint.json.abc123.tmp"
    debris.parent.mkdir()
    debris.write_text("half a rec")
    other = tmp_path / "pipeline" / ".other.abc123.tmp"
    other.write_text("not ours")
    manager = CheckpointManager(storage, MemoryConsumer())
    for offset in range(1, 4):
        manager.write_checkpoint([], offset)
    assert sorted(p.name for p in (tmp_path / "pipeline").iterdir()) == [".other.abc123.tmp", "checkpoint.json"]


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/", ".hidden", "a/.b", "a\\b", "a\x00b", "a\nb", "x" * 1025]
)
def test_unsafe_keys_are_refused_and_nothing_is_created(tmp_path, key):
    root = tmp_path / "root"
    storage = FileStorage(root)
    with pytest.raises(StorageFailure) as raised:
        storage.put_versioned(key, "v", None)
    assert raised.value.kind == "invalid-key"
    with pytest.raises(ReadFailed) as through_manager:
        CheckpointManager(storage, MemoryConsumer(), key=key).get_checkpoint()
    assert through_manager.value.kind == "invalid-key"
    assert list(root.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_symlinked_record_is_not_followed_nor_written_through(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"offset": 5, "written_at": 1.0}')
    storage = FileStorage(tmp_path / "root")
    (tmp_path / "root" / "pipeline").mkdir()
    os.symlink(outside, tmp_path / "root" / "pipeline" / "checkpoint.json")
    manager = CheckpointManager(storage, MemoryConsumer())
    with pytest.raises(CorruptRecord) as raised:
        manager.get_checkpoint()
    assert "symbolic link" in str(raised.value)
    with pytest.raises(CorruptRecord):
        manager.write_checkpoint([], 6)
    assert outside.read_text() == '{"offset": 5, "written_at": 1.0}'


def test_record_over_the_size_limit_is_corrupt_and_not_read_whole(tmp_path):
    storage = FileStorage(tmp_path, max_value_bytes=64)
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "checkpoint.json").write_text('{"offset": 1}' + " " * 100)
    with pytest.raises(CorruptRecord):
        CheckpointManager(storage, MemoryConsumer()).get_checkpoint()


def test_writer_in_another_process_fences_this_one(tmp_path):
    storage = FileStorage(tmp_path)
    stale = CheckpointManager(storage, MemoryConsumer())
    assert stale.write_checkpoint(["a"], 1) is True
    successor = textwrap.dedent(
        f"""
        from pipeline_checkpoint import CheckpointManager, FileStorage, MemoryConsumer
        manager = CheckpointManager(FileStorage({str(tmp_path)!r}), MemoryConsumer())
        assert manager.get_checkpoint() == 1
        assert manager.write_checkpoint(["b"], 2) is True
        """
    )
    subprocess.run([sys.executable, "-c", successor], check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    with pytest.raises(Fenced):
        stale.write_checkpoint(["stale"], 3)
    assert json.loads((tmp_path / "pipeline" / "checkpoint.json").read_text())["offset"] == 2


def test_unversioned_storage_fences_a_replaced_record_by_its_content(tmp_path, seed_module):
    """Over a store without versions, a record another writer replaced before this
    manager's write is noticed by its content hash. (Only a replacement landing
    between the compare and the write, in another process, goes unnoticed: the
    limitation the docs state.)"""
    storage = seed_module.FileStorage(str(tmp_path))
    stale = CheckpointManager(storage, MemoryConsumer())
    stale.write_checkpoint([], 1)
    seed_module.CheckpointManager(storage, MemoryConsumer()).write_checkpoint([], 2)
    # The content version still tells the record changed: fenced, not overwritten.
    with pytest.raises(Fenced):
        stale.write_checkpoint([], 3)
