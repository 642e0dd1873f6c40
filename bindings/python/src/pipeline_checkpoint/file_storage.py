"""FileStorage: each key a file under a root directory, replaced atomically and
durably, with a compare-and-swap that holds across processes.

It follows the Rust host library's FileStorage step by step, so that Python and Rust
writers can share a root and fence each other: the same key rules, the same version
(the FNV-1a hash of the file's bytes), the same lock (flock on the record's
directory), the same temporary files (``.name.XXXXXX.tmp``, locked while in use).
The file ``root/pipeline/checkpoint.json`` holds the record's JSON, so the original
Python pipelines still read it.
"""

import errno
import os
import secrets
import time
from typing import Optional, Set, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover - not Unix
    fcntl = None  # type: ignore[assignment]

from .storage import StorageFailure, VersionConflict, content_version

MAX_KEY_LEN = 1024
_MAX_SEGMENT_LEN = 255
#: How long a put waits for the directory's lock. Holders keep it for a read and a
#: rename, microseconds: a wait this long means a stopped holder, so give up.
DEFAULT_LOCK_TIMEOUT = 10.0
#: The largest record read; anything larger is not a checkpoint record.
DEFAULT_MAX_VALUE_BYTES = 1 << 20


def validate_key(key: str) -> None:
    """Refuses a key that is unsafe as a relative path under the root, with the
    Rust host's rules: empty; over 1024 bytes; control characters; a backslash;
    absolute; a trailing '/'; an empty, '.' or '..' segment; a segment starting
    with '.' (reserved for temporary files); a segment over 255 bytes."""

    def refuse(rule: str) -> StorageFailure:
        shown = repr(key) if len(key) <= MAX_KEY_LEN else repr(key[:64]) + "..."
        return StorageFailure("invalid-key", f"{shown} {rule}")

    if not key:
        raise refuse("is empty")
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_LEN:
        raise refuse(f"is {size} bytes long; the limit is {MAX_KEY_LEN}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key):
        raise refuse("contains a control character")
    if "\\" in key:
        raise refuse("contains a backslash")
    if key.startswith("/"):
        raise refuse("is absolute (starts with '/')")
    if key.endswith("/"):
        raise refuse("ends with '/'")
    for segment in key.split("/"):
        if not segment:
            raise refuse("has an empty segment ('//')")
        if segment in (".", ".."):
            raise refuse(f"has a {segment!r} segment")
        if segment.startswith("."):
            raise refuse(f"has a segment starting with '.' ({segment!r})")
        if len(segment.encode("utf-8", "surrogatepass")) > _MAX_SEGMENT_LEN:
            raise refuse(f"has a segment over {_MAX_SEGMENT_LEN} bytes")


def _os_failure(op: str, path: str, error: OSError) -> StorageFailure:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        kind = "no-space"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        kind = "access-denied"
    else:
        kind = "io"
    return StorageFailure(kind, f"{op} {path}: {error.strerror or error}")


def _sync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStorage:
    """Storage keeping each key in the file ``root/key`` (Unix), with the versioned
    calls: ``put_versioned`` compares and renames under an advisory lock that every
    FileStorage writer of the directory takes, in any process."""

    def __init__(
        self,
        root: "os.PathLike[str] | str",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        if fcntl is None:  # pragma: no cover
            raise OSError("FileStorage needs flock(2): it is available on Unix only")
        self.root = os.fspath(root)
        self.lock_timeout = lock_timeout
        self.max_value_bytes = max_value_bytes
        # Debris of a crashed put only appears after a crash: scan once per target.
        self._cleaned: Set[str] = set()
        self._create_dirs(self.root)

    def path_of(self, key: str) -> str:
        """The file that holds `key`, once the key is validated."""
        if not isinstance(key, str):
            raise StorageFailure("invalid-key", f"a key is a str, not {type(key).__name__}")
        validate_key(key)
        return os.path.join(self.root, key)

    # -- the versioned protocol ----------------------------------------------------------

    def get_versioned(self, key: str) -> Optional[Tuple[str, int]]:
        value = self._read(self.path_of(key))
        return None if value is None else (value, content_version(value))

    def put_versioned(self, key: str, value: str, expected: Optional[int]) -> int:
        target = self.path_of(key)
        directory = os.path.dirname(target)
        self._create_dirs(directory)
        temp, fd = self._stage(key, target, directory, value.encode("utf-8"))
        try:
            with _DirLock(directory, self.lock_timeout):
                # The compare and the rename are one step for every writer: all of
                # them hold this lock around theirs.
                try:
                    current = self._read(target)
                    have = None if current is None else content_version(current)
                except StorageFailure as e:
                    if e.kind != "invalid-data":
                        raise
                    # Bytes that cannot be a record match no version a writer could
                    # have read: only a put expecting nothing (a reset) replaces them.
                    if expected is not None:
                        raise VersionConflict(e.detail) from e
                    have = None
                if have != expected:
                    want = "absent" if expected is None else f"version {expected}"
                    holds = "nothing" if have is None else f"version {have}"
                    raise VersionConflict(f"{target}: expected {want}, holds {holds}")
                # rename(2) replaces atomically: readers see the old value or the
                # new one, and a failure leaves the old one intact.
                try:
                    os.replace(temp, target)
                except OSError as e:
                    raise _os_failure("replacing", target, e) from e
                temp = None
            # Until the directory is synced, power loss can undo the rename and bring
            # the old value back after success was reported.
            try:
                _sync_dir(directory)
            except OSError as e:
                raise _os_failure("syncing directory", directory, e) from e
            return content_version(value)
        finally:
            os.close(fd)  # releases the temporary file's lock
            if temp is not None:
                try:
                    os.unlink(temp)
                except OSError:
                    pass

    # -- the seed's protocol, for tools and the original pipelines -------------------------

    def get(self, key: str) -> Optional[str]:
        """The value under `key`, or None."""
        found = self.get_versioned(key)
        return None if found is None else found[0]

    def put(self, key: str, value: str) -> bool:
        """Replaces the value under `key` whatever it holds (a compare-and-swap on what
        was just read, so a concurrent writer is not silently overwritten); False if
        the write failed. CheckpointManager uses the versioned calls instead."""
        try:
            current = self.get_versioned(key)
            self.put_versioned(key, value, None if current is None else current[1])
            return True
        except StorageFailure:
            return False

    # -- steps -----------------------------------------------------------------------------

    def _stage(self, key: str, target: str, directory: str, data: bytes) -> Tuple[str, int]:
        """Writes `data` to a new temporary file beside `target` and syncs it; returns
        its path and its open, locked descriptor."""
        name = key.rsplit("/", 1)[-1]
        # Created and locked under the directory's lock, so that a cleaner (ours or
        # the Rust host's) never removes a file in the instant before it is locked.
        with _DirLock(directory, self.lock_timeout):
            if target not in self._cleaned:
                try:
                    self.clean_temp_files(key)
                    self._cleaned.add(target)
                except StorageFailure:
                    pass  # debris only costs space; retried next time
            while True:
                temp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
                try:
                    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                    break
                except FileExistsError:
                    continue
                except OSError as e:
                    raise _os_failure("creating a temporary file in", directory, e) from e
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            # The data must be on disk before the rename makes it visible, or a crash
            # can leave the name pointing at an empty file.
            os.fsync(fd)
        except OSError as e:
            os.close(fd)
            os.unlink(temp)
            raise _os_failure("writing", temp, e) from e
        return temp, fd

    def _read(self, path: str) -> Optional[str]:
        """The text of `path`: a regular file, never through a symbolic link, never
        blocking on a FIFO, at most max_value_bytes."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StorageFailure("invalid-data", f"{path} is a symbolic link; records are never read through one") from e
            raise _os_failure("reading", path, e) from e
        try:
            mode = os.fstat(fd).st_mode
            if not (mode & 0o170000) == 0o100000:
                raise StorageFailure("invalid-data", f"{path} is not a regular file")
            chunks = []
            size = 0
            while size <= self.max_value_bytes:
                chunk = os.read(fd, self.max_value_bytes + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as e:
            raise _os_failure("reading", path, e) from e
        finally:
            os.close(fd)
        if size > self.max_value_bytes:
            raise StorageFailure(
                "invalid-data", f"{path} is over the {self.max_value_bytes}-byte limit on records: not a checkpoint record"
            )
        data = b"".join(chunks)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StorageFailure("invalid-data", f"{path} is not UTF-8: invalid byte at offset {e.start}") from e

    def clean_temp_files(self, key: str) -> int:
        """Removes the temporary files a crashed put of `key` left, skipping any that
        a put in progress holds locked; returns how many it removed."""
        target = self.path_of(key)
        directory = os.path.dirname(target)
        prefix = "." + key.rsplit("/", 1)[-1] + "."
        removed = 0
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return 0
        except OSError as e:
            raise _os_failure("listing", directory, e) from e
        for entry in names:
            middle = entry[len(prefix) : -len(".tmp")]
            if not (entry.startswith(prefix) and entry.endswith(".tmp") and middle.isalnum() and middle.isascii()):
                continue
            path = os.path.join(directory, entry)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # a put in progress
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
            finally:
                os.close(fd)
        return removed

    def _create_dirs(self, directory: str) -> None:
        """Creates `directory` and its missing parents, syncing each new entry's parent
        so that the directories survive a crash too."""
        missing = []
        current = os.path.abspath(directory)
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise StorageFailure("io", f"{path} exists and is not a directory") from None
            except OSError as e:
                raise _os_failure("creating directory", path, e) from e
            try:
                _sync_dir(os.path.dirname(path))
            except OSError as e:
                raise _os_failure("syncing directory", os.path.dirname(path), e) from e


class _DirLock:
    """The advisory lock of a directory, as the Rust FileStorage takes it (flock on the
    directory itself), given up on after `timeout` seconds: a holder that keeps it
    that long is stopped, and the put fails `unavailable` rather than hang."""

    def __init__(self, directory: str, timeout: float) -> None:
        self._directory = directory
        self._timeout = timeout
        self._fd = -1

    def __enter__(self) -> "_DirLock":
        try:
            self._fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise _os_failure("opening directory", self._directory, e) from e
        give_up = time.monotonic() + self._timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    os.close(self._fd)
                    raise StorageFailure(
                        "unavailable",
                        f"the lock of {self._directory} has been held by another writer for over "
                        f"{self._timeout:g} s; is a process holding it stopped?",
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
            except OSError as e:
                os.close(self._fd)
                raise _os_failure("locking directory", self._directory, e) from e

    def __exit__(self, *_: object) -> None:
        os.close(self._fd)  # closing releases the flock
