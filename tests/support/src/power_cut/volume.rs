//! The power-cut file system's state: what the page cache holds (the current tree)
//! and what the disk holds (what was synced), kept apart, and the cuts that throw the
//! first away.
//!
//! The rules are those of a POSIX file system that promises nothing more than POSIX:
//! a file's data (and size) is durable once the file is fsynced or fdatasynced; a
//! creation, removal or rename is durable once its directory is fsynced. Everything
//! else is pending, and a power cut loses some or all of it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};

use fuser::Errno;

use crate::seeded::Rng;

/// An inode number, as FUSE names files.
pub type Ino = u64;
/// The root directory's inode number, fixed by FUSE.
pub const ROOT: Ino = 1;

/// What a power cut keeps of the changes that were not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// Nothing: the disk holds exactly what was synced.
    DropAll,
    /// The write-back got part of the way: each file keeps a random prefix of its
    /// pending writes, each directory a random prefix of its pending entry changes
    /// (a rename within a directory lands whole or not at all).
    RandomPrefix,
    /// The write-back got almost everywhere: every pending change landed except each
    /// file's last unsynced write, which is torn, keeping a random prefix of its bytes
    /// or, as ext4's delayed allocation can leave it, zeros over its whole range.
    TornLastWrite,
}

impl CutMode {
    pub const ALL: [CutMode; 3] = [Self::DropAll, Self::RandomPrefix, Self::TornLastWrite];
}

/// A file or a directory, as the page cache sees it, with its durable state beside it.
#[derive(Debug)]
pub enum Node {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Debug, Default)]
pub struct FileNode {
    pub data: Vec<u8>,
    durable: Vec<u8>,
    /// Changes since the last fsync, oldest first.
    pending: Vec<DataChange>,
}

#[derive(Debug, Default)]
pub struct DirNode {
    pub entries: BTreeMap<OsString, Ino>,
    durable: BTreeMap<OsString, Ino>,
    /// Changes since the last fsync of the directory, oldest first.
    pending: Vec<EntryChange>,
}

#[derive(Debug)]
enum DataChange {
    Write { offset: usize, bytes: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug)]
enum EntryChange {
    Link(OsString, Ino),
    Unlink(OsString),
    /// A rename within one directory: one change, so a cut keeps it whole or drops it.
    Rename {
        from: OsString,
        to: OsString,
    },
}

/// The whole file system: every inode, and the power supply.
///
/// Power is lost on a schedule counted in mutating operations, so that a seed picks
/// the instant of the cut among the operations of the code under test, whatever its
/// speed. Once the power is lost every operation fails with EIO and nothing more
/// becomes durable, until a [`Volume::cut`] brings the power back.
#[derive(Debug)]
pub struct Volume {
    nodes: HashMap<Ino, Node>,
    next_ino: Ino,
    /// Mutating operations since the volume was made.
    mutations: u64,
    /// The mutation that finds the power gone.
    lose_power_at: Option<u64>,
    power_lost: bool,
}

impl Default for Volume {
    fn default() -> Self {
        Self::new()
    }
}

impl Volume {
    /// An empty volume: a root directory, itself durable.
    pub fn new() -> Self {
        let root = Node::Dir(DirNode::default());
        Self {
            nodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            mutations: 0,
            lose_power_at: None,
            power_lost: false,
        }
    }

    /// Makes the `after`-th mutating operation from now fail, and every operation after it.
    pub fn lose_power_after(&mut self, after: u64) {
        self.lose_power_at = Some(self.mutations + after.max(1));
    }

    pub fn power_lost(&self) -> bool {
        self.power_lost
    }

    /// Fails with EIO once the power is gone: nothing is read or written any more.
    pub fn powered(&self) -> Result<(), Errno> {
        (!self.power_lost).then_some(()).ok_or(Errno::EIO)
    }

    /// Counts a mutating operation, losing the power if its turn has come.
    fn mutate(&mut self) -> Result<(), Errno> {
        self.powered()?;
        self.mutations += 1;
        if self.lose_power_at == Some(self.mutations) {
            self.power_lost = true;
            return Err(Errno::EIO);
        }
        Ok(())
    }

    pub fn node(&self, ino: Ino) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn file(&mut self, ino: Ino) -> Result<&mut FileNode, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(file)) => Ok(file),
            Some(Node::Dir(_)) => Err(Errno::EISDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn dir(&mut self, ino: Ino) -> Result<&mut DirNode, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(dir)) => Ok(dir),
            Some(Node::File(_)) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Ino, Errno> {
        self.powered()?;
        match self.node(parent)? {
            Node::Dir(dir) => dir.entries.get(name).copied().ok_or(Errno::ENOENT),
            Node::File(_) => Err(Errno::ENOTDIR),
        }
    }

    /// Creates a file (`dir == false`) or a directory named `name` in `parent`.
    pub fn create(&mut self, parent: Ino, name: &OsStr, dir: bool) -> Result<Ino, Errno> {
        self.powered()?;
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.mutate()?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let node = match dir {
            true => Node::Dir(DirNode::default()),
            false => Node::File(FileNode::default()),
        };
        self.nodes.insert(ino, node);
        let parent = self.dir(parent)?;
        parent.entries.insert(name.to_owned(), ino);
        parent.pending.push(EntryChange::Link(name.to_owned(), ino));
        Ok(ino)
    }

    /// Removes the entry `name` from `parent`; a directory only if it is empty. The
    /// inode lives on while it is open, and vanishes at the next cut.
    pub fn unlink(&mut self, parent: Ino, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        match (self.node(ino)?, dir) {
            (Node::Dir(_), false) => return Err(Errno::EISDIR),
            (Node::File(_), true) => return Err(Errno::ENOTDIR),
            (Node::Dir(d), true) if !d.entries.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        self.mutate()?;
        let parent = self.dir(parent)?;
        parent.entries.remove(name);
        parent.pending.push(EntryChange::Unlink(name.to_owned()));
        Ok(())
    }

    /// Renames `parent/name` to `new_parent/new_name`, replacing what is there unless
    /// `no_replace`.
    pub fn rename(
        &mut self,
        (parent, name): (Ino, &OsStr),
        (new_parent, new_name): (Ino, &OsStr),
        no_replace: bool,
    ) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        match self.lookup(new_parent, new_name) {
            Ok(_) if no_replace => return Err(Errno::EEXIST),
            Ok(target) if matches!(self.node(target)?, Node::Dir(_)) => {
                return Err(Errno::EISDIR);
            }
            _ => self.dir(new_parent)?,
        };
        self.mutate()?;
        let (name, new_name) = (name.to_owned(), new_name.to_owned());
        if parent == new_parent {
            let dir = self.dir(parent)?;
            dir.entries.remove(&name);
            dir.entries.insert(new_name.clone(), ino);
            let change = EntryChange::Rename {
                from: name,
                to: new_name,
            };
            dir.pending.push(change);
        } else {
            // Two directories, two changes: a cut may keep either without the other.
            let from = self.dir(parent)?;
            from.entries.remove(&name);
            from.pending.push(EntryChange::Unlink(name));
            let to = self.dir(new_parent)?;
            to.entries.insert(new_name.clone(), ino);
            to.pending.push(EntryChange::Link(new_name, ino));
        }
        Ok(())
    }

    pub fn read(&self, ino: Ino, offset: usize, size: usize) -> Result<&[u8], Errno> {
        self.powered()?;
        match self.node(ino)? {
            Node::File(file) => {
                let start = offset.min(file.data.len());
                let end = offset.saturating_add(size).min(file.data.len());
                Ok(&file.data[start..end])
            }
            Node::Dir(_) => Err(Errno::EISDIR),
        }
    }

    pub fn write(&mut self, ino: Ino, offset: usize, bytes: &[u8]) -> Result<(), Errno> {
        self.file(ino)?;
        self.mutate()?;
        let file = self.file(ino)?;
        write_at(&mut file.data, offset, bytes);
        let change = DataChange::Write {
            offset,
            bytes: bytes.to_vec(),
        };
        file.pending.push(change);
        Ok(())
    }

    pub fn set_len(&mut self, ino: Ino, len: usize) -> Result<(), Errno> {
        self.file(ino)?;
        self.mutate()?;
        let file = self.file(ino)?;
        file.data.resize(len, 0);
        file.pending.push(DataChange::SetLen(len));
        Ok(())
    }

    /// fsync or fdatasync of a file, or fsync of a directory: its pending changes
    /// become durable.
    pub fn sync(&mut self, ino: Ino) -> Result<(), Errno> {
        self.node(ino)?;
        self.mutate()?;
        match self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)? {
            // Replaying the pending changes onto the durable copy costs what they
            // wrote, where copying the file would cost its length at every fdatasync
            // of an ever-growing log.
            Node::File(file) => {
                for change in file.pending.drain(..) {
                    change.apply(&mut file.durable);
                }
            }
            Node::Dir(dir) => {
                dir.durable.clone_from(&dir.entries);
                dir.pending.clear();
            }
        }
        Ok(())
    }

    /// Cuts the power: throws away what `mode` says of each pending change, forgets
    /// every inode no longer reachable from the root, and brings the power back. What
    /// is left is all durable: it is what the disk holds.
    pub fn cut(&mut self, mode: CutMode, rng: &mut Rng) {
        // Sorted, so that a seed replays the same cut.
        let mut inos: Vec<Ino> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            match self.nodes.get_mut(&ino).expect("listed above") {
                Node::File(file) => file.cut(mode, rng),
                Node::Dir(dir) => dir.cut(mode, rng),
            }
        }
        let reachable = self.reachable();
        self.nodes.retain(|ino, _| reachable.contains(ino));
        self.lose_power_at = None;
        self.power_lost = false;
    }

    fn reachable(&self) -> HashSet<Ino> {
        let mut seen = HashSet::from([ROOT]);
        let mut todo = vec![ROOT];
        while let Some(ino) = todo.pop() {
            if let Some(Node::Dir(dir)) = self.nodes.get(&ino) {
                todo.extend(dir.entries.values().filter(|&&child| seen.insert(child)));
            }
        }
        seen
    }
}

impl FileNode {
    fn cut(&mut self, mode: CutMode, rng: &mut Rng) {
        let kept = match mode {
            CutMode::DropAll => 0,
            CutMode::RandomPrefix => rng.between(0, self.pending.len() as u64) as usize,
            CutMode::TornLastWrite => self.pending.len().saturating_sub(1),
        };
        let mut data = std::mem::take(&mut self.durable);
        for change in &self.pending[..kept] {
            change.apply(&mut data);
        }
        match self.pending.get(kept) {
            Some(DataChange::Write { offset, bytes }) if mode == CutMode::TornLastWrite => {
                let torn = match rng.percent(50) {
                    true => bytes[..rng.below(bytes.len().max(1))].to_vec(),
                    false => vec![0; bytes.len()],
                };
                write_at(&mut data, *offset, &torn);
            }
            Some(change) if mode == CutMode::TornLastWrite => change.apply(&mut data),
            _ => {}
        }
        self.durable.clone_from(&data);
        self.data = data;
        self.pending.clear();
    }
}

impl DirNode {
    fn cut(&mut self, mode: CutMode, rng: &mut Rng) {
        let kept = match mode {
            CutMode::DropAll => 0,
            CutMode::RandomPrefix => rng.between(0, self.pending.len() as u64) as usize,
            CutMode::TornLastWrite => self.pending.len(),
        };
        let mut entries = std::mem::take(&mut self.durable);
        for change in &self.pending[..kept] {
            match change {
                EntryChange::Link(name, ino) => {
                    entries.insert(name.clone(), *ino);
                }
                EntryChange::Unlink(name) => {
                    entries.remove(name);
                }
                EntryChange::Rename { from, to } => {
                    if let Some(ino) = entries.remove(from) {
                        entries.insert(to.clone(), ino);
                    }
                }
            }
        }
        self.durable.clone_from(&entries);
        self.entries = entries;
        self.pending.clear();
    }
}

impl DataChange {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            DataChange::Write { offset, bytes } => write_at(data, *offset, bytes),
            DataChange::SetLen(len) => data.resize(*len, 0),
        }
    }
}

/// Writes `bytes` at `offset`, filling any gap before it with zeros, as a file does.
fn write_at(data: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    let end = offset + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[offset..end].copy_from_slice(bytes);
}
