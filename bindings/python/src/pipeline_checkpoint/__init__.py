"""Durable stream-pipeline checkpoints: the pipeline-checkpoint WebAssembly component,
hosted from Python.

``CheckpointManager(storage, consumer, key=None)`` is a drop-in for the original
Python class: the same protocols and methods, with the offset made durable before
any message is acknowledged, a read that never writes, and typed exceptions (under
``CheckpointError``) for what a bool cannot say.

Layout: ``manager`` (the class), ``errors`` (its exceptions), ``storage`` (the
protocols and content versions), ``file_storage`` and ``memory`` (storages shipped
with the package); ``_adapters``, ``_host``, ``_abi`` and ``_component`` connect
them to the component.
"""

from .errors import (
    AckFailed,
    CheckpointError,
    ComponentTrapped,
    CorruptRecord,
    Fenced,
    InvalidArgument,
    OffsetRegression,
    ReadFailed,
    WriteFailed,
)
from .file_storage import FileStorage
from .manager import CheckpointManager
from .memory import MemoryConsumer, MemoryStorage
from .storage import CHECKPOINT_KEY, AckFailure, StorageFailure, VersionConflict, content_version

__all__ = [
    "AckFailed",
    "AckFailure",
    "CHECKPOINT_KEY",
    "CheckpointError",
    "CheckpointManager",
    "ComponentTrapped",
    "CorruptRecord",
    "Fenced",
    "FileStorage",
    "InvalidArgument",
    "MemoryConsumer",
    "MemoryStorage",
    "OffsetRegression",
    "ReadFailed",
    "StorageFailure",
    "VersionConflict",
    "WriteFailed",
    "content_version",
]
