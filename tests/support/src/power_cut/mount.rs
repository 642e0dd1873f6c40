//! The power-cut file system mounted with FUSE: every operation the kernel sends is
//! served from a [`Volume`], and a cut unmounts it, throws away what was not synced
//! and mounts it again. Mutating operations pass a [`Gate`] first, which a test may
//! close to stop the code under test at a chosen operation.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

use super::gate::{Gate, Hold, Operation};
use super::volume::{CutMode, Ino, Node, Volume};
use crate::seeded::Rng;

/// Entries and attributes are valid for no time at all: the kernel asks again every
/// time, so it never serves a name or a size that a cut took away.
const TTL: Duration = Duration::ZERO;

/// A mounted power-cut file system in a temporary directory; unmounted on drop.
pub struct PowerCutMount {
    volume: Arc<Mutex<Volume>>,
    gate: Arc<Gate>,
    /// Holds the mount point, `mnt`.
    dir: tempfile::TempDir,
    session: Option<BackgroundSession>,
}

impl PowerCutMount {
    /// Mounts an empty volume, or returns `None` after a loud notice where the machine
    /// has no `/dev/fuse` (a failure instead where `PIPELINE_CHECKPOINT_REQUIRE_FUSE=1`,
    /// as in CI). Any other failure to mount fails the test.
    pub fn mount_or_skip() -> Option<Self> {
        if !Path::new("/dev/fuse").exists() {
            crate::skip(
                "power cut: SKIPPED: no /dev/fuse",
                "fuse",
                "run where /dev/fuse exists (modprobe fuse)",
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join("mnt")).expect("a mount point");
        let mut mount = Self {
            volume: Arc::new(Mutex::new(Volume::new())),
            gate: Arc::new(Gate::new()),
            dir,
            session: None,
        };
        mount.mount();
        Some(mount)
    }

    /// Where the file system is mounted.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// Makes the `after`-th mutating operation from now lose the power.
    pub fn lose_power_after(&self, after: u64) {
        self.volume().lose_power_after(after);
    }

    pub fn power_lost(&self) -> bool {
        self.volume().power_lost()
    }

    /// Holds the mutating operations `hold` names at the gate from now on (see
    /// [`Gate`]); [`Hold::Nothing`] opens it.
    pub fn hold(&self, hold: Hold) {
        self.gate.hold(hold);
    }

    /// Lets one held operation through the gate: the one waiting, or the next.
    pub fn let_one_through(&self) {
        self.gate.let_one_through();
    }

    /// Counts the operations that arrived at the gate while it held them.
    pub fn arrivals(&self) -> tokio::sync::watch::Receiver<u64> {
        self.gate.arrivals()
    }

    /// Cuts the power and brings it back: what was not synced is lost as `mode` says,
    /// and the file system is mounted afresh, so no cache of the kernel's survives
    /// either. Nothing may have a file open on the mount.
    pub fn cut(&mut self, mode: CutMode, rng: &mut Rng) {
        self.gate.hold(Hold::Nothing);
        self.unmount();
        self.volume().cut(mode, rng);
        self.mount();
    }

    fn volume(&self) -> MutexGuard<'_, Volume> {
        self.volume.lock().expect("the file system never panics")
    }

    fn mount(&mut self) {
        let fs = PowerCutFs {
            volume: Arc::clone(&self.volume),
            gate: Arc::clone(&self.gate),
        };
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("power-cut".into())];
        let path = self.path();
        let session = fuser::spawn_mount(fs, &path, &config)
            .unwrap_or_else(|e| panic!("mounting the power-cut file system on {path:?}: {e}"));
        self.session = Some(session);
    }

    /// Detaches the mount and waits until the kernel has let go of it. A plain
    /// unmount fails with EBUSY while any process holds a file open on the mount, and
    /// a child that another test thread is spawning holds copies of this process's
    /// open files until its exec closes them. Detaching lets that moment pass; the
    /// session thread ends, and so the join returns, only once the last of them is
    /// closed, so nothing can reach the volume while it is cut.
    fn unmount(&mut self) {
        if let Some(session) = self.session.take() {
            let path = self.path();
            nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH)
                .unwrap_or_else(|e| panic!("detaching the power-cut file system {path:?}: {e}"));
            session
                .join()
                .expect("the power-cut file system's session ends cleanly");
        }
    }
}

impl Drop for PowerCutMount {
    fn drop(&mut self) {
        self.gate.hold(Hold::Nothing);
        if let Some(session) = self.session.take() {
            // A test that already failed must not panic again here.
            let _ = session.umount_and_join();
        }
    }
}

/// The FUSE side: each request is one call on the shared [`Volume`], each mutating one
/// once the [`Gate`] lets it through.
struct PowerCutFs {
    volume: Arc<Mutex<Volume>>,
    gate: Arc<Gate>,
}

impl PowerCutFs {
    fn volume(&self) -> MutexGuard<'_, Volume> {
        self.volume.lock().expect("the file system never panics")
    }

    /// The volume, for a change, once the gate lets the change through.
    fn changing(&self) -> MutexGuard<'_, Volume> {
        self.gate.pass(Operation::Change);
        self.volume()
    }

    /// The volume, for a sync, once the gate lets the sync through.
    fn syncing(&self) -> MutexGuard<'_, Volume> {
        self.gate.pass(Operation::Sync);
        self.volume()
    }

    fn attr_of(volume: &Volume, ino: Ino) -> Result<FileAttr, Errno> {
        volume.powered()?;
        let (kind, size, perm, nlink) = match volume.node(ino)? {
            Node::File(file) => (FileType::RegularFile, file.data.len() as u64, 0o644, 1),
            Node::Dir(dir) => (FileType::Directory, dir.entries.len() as u64, 0o755, 2),
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink,
            // The tests run as root, which owns everything anyway.
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    /// Replies with the entry of `ino`, or the error that stopped the operation.
    fn reply_entry(&self, volume: &Volume, ino: Result<Ino, Errno>, reply: ReplyEntry) {
        match ino.and_then(|ino| Self::attr_of(volume, ino)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }
}

fn empty(result: Result<(), Errno>, reply: ReplyEmpty) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let volume = self.volume();
        self.reply_entry(&volume, volume.lookup(parent.0, name), reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match Self::attr_of(&self.volume(), ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    /// Only a size change (truncate, `set_len`) matters to durability; modes, owners
    /// and times are accepted and not kept.
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut volume = match size {
            Some(_) => self.changing(),
            None => self.volume(),
        };
        let resized = match size {
            Some(size) => volume.set_len(ino.0, size as usize),
            None => Ok(()),
        };
        match resized.and_then(|()| Self::attr_of(&volume, ino.0)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut volume = self.changing();
        let ino = volume.create(parent.0, name, true);
        self.reply_entry(&volume, ino, reply);
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut volume = self.changing();
        let attr = volume
            .create(parent.0, name, false)
            .and_then(|ino| Self::attr_of(&volume, ino));
        match attr {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(self.changing().unlink(parent.0, name, false), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(self.changing().unlink(parent.0, name, true), reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let renamed =
            self.changing()
                .rename((parent.0, name), (new_parent.0, new_name), no_replace);
        empty(renamed, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: fuser::ReplyOpen) {
        match Self::attr_of(&self.volume(), ino.0) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.volume().read(ino.0, offset as usize, size as usize) {
            Ok(bytes) => reply.data(bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.changing().write(ino.0, offset as usize, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        empty(self.volume().powered(), reply);
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _data: bool, reply: ReplyEmpty) {
        empty(self.syncing().sync(ino.0), reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let volume = self.volume();
        let entries = match volume.powered().and_then(|()| volume.node(ino.0)) {
            Ok(Node::Dir(dir)) => &dir.entries,
            Ok(Node::File(_)) => return reply.error(Errno::ENOTDIR),
            Err(e) => return reply.error(e),
        };
        let dots = [(".", ino.0), ("..", ino.0)].map(|(name, ino)| (OsStr::new(name), ino));
        let children = entries.iter().map(|(name, &ino)| (name.as_os_str(), ino));
        for (index, (name, child)) in dots.into_iter().chain(children).enumerate() {
            if (index as u64) < offset {
                continue;
            }
            let kind = match volume.node(child) {
                Ok(Node::Dir(_)) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            // The offset handed back is where the next call resumes.
            if reply.add(INodeNo(child), index as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _data: bool,
        reply: ReplyEmpty,
    ) {
        empty(self.syncing().sync(ino.0), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.volume().powered() {
            Ok(()) => reply.statfs(1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 4096, 255, 4096),
            Err(e) => reply.error(e),
        }
    }
}
