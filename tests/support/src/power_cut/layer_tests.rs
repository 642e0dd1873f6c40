//! The power-cut file system itself, mounted: it forgets exactly what was not synced.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::mount::PowerCutMount;
use super::volume::CutMode;
use crate::seeded::{Rng, seed};

/// Writes `bytes` to a new file at `path` and syncs the file and its directory.
fn write_durably(path: &Path, bytes: &[u8]) {
    let mut file = File::create(path).unwrap();
    file.write_all(bytes).unwrap();
    file.sync_all().unwrap();
    sync_dir(path.parent().unwrap());
}

/// fsync of a directory, which FUSE passes on as fsyncdir.
fn sync_dir(dir: &Path) {
    File::open(dir).unwrap().sync_all().unwrap();
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// A new file, written and closed but never synced, is gone after a cut; and an
/// existing file rewritten without fsync reverts to its synced contents.
#[test]
fn a_file_written_without_fsync_vanishes_or_reverts_at_a_cut() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let (new, old) = (fs.path().join("new"), fs.path().join("old"));
    write_durably(&old, b"synced");
    fs::write(&new, b"never synced").unwrap();
    fs::write(&old, b"rewritten").unwrap();
    assert_eq!(fs::read(&old).unwrap(), b"rewritten");
    fs.cut(CutMode::DropAll, &mut Rng::new(0));
    assert!(!new.exists(), "an unsynced creation survived the cut");
    assert_eq!(fs::read(&old).unwrap(), b"synced");
}

/// A rename is an entry of its directory: without a directory fsync a cut undoes it,
/// even though both files' data were synced.
#[test]
fn a_rename_without_a_directory_fsync_reverts_at_a_cut() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let (from, to) = (fs.path().join("from"), fs.path().join("to"));
    write_durably(&from, b"new");
    write_durably(&to, b"old");
    fs::rename(&from, &to).unwrap();
    assert_eq!(fs::read(&to).unwrap(), b"new");
    fs.cut(CutMode::DropAll, &mut Rng::new(0));
    assert_eq!(fs::read(&from).unwrap(), b"new");
    assert_eq!(fs::read(&to).unwrap(), b"old");
}

/// Data synced with fsync, in a file and directories whose entries were synced, survives
/// a cut of every mode, as do the renames and removals that were synced.
#[test]
fn synced_files_and_entries_survive_every_cut_mode() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let mut rng = Rng::new(seed());
    let dir = fs.path().join("sub");
    fs::create_dir(&dir).unwrap();
    sync_dir(&fs.path());
    for (round, mode) in CutMode::ALL.into_iter().enumerate() {
        let text = format!("round {round}");
        write_durably(&dir.join("temp"), text.as_bytes());
        fs::rename(dir.join("temp"), dir.join("value")).unwrap();
        write_durably(&dir.join("doomed"), b"x");
        fs::remove_file(dir.join("doomed")).unwrap();
        sync_dir(&dir);
        fs.cut(mode, &mut rng);
        assert_eq!(
            fs::read_to_string(dir.join("value")).unwrap(),
            text,
            "{mode:?}"
        );
        assert_eq!(crate::files::names_in(&dir), ["value"], "{mode:?}");
    }
}

/// A torn last write keeps the synced bytes and then either a proper prefix of the
/// unsynced write or zeros over all of it; over many cuts both happen.
#[test]
fn a_torn_write_leaves_a_prefix_of_it_or_zeros() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let mut rng = Rng::new(seed());
    let path = fs.path().join("log");
    let (mut prefixes, mut zeros) = (0, 0);
    for _ in 0..40 {
        write_durably(&path, b"synced\n");
        append(&path, b"first\n");
        append(&path, b"torn line\n");
        fs.cut(CutMode::TornLastWrite, &mut rng);
        let bytes = fs::read(&path).unwrap();
        let tail = bytes
            .strip_prefix(&b"synced\nfirst\n"[..])
            .unwrap_or_else(|| panic!("earlier writes were lost: {bytes:?}"));
        if tail == [0; 10] {
            zeros += 1;
        } else {
            assert!(
                tail.len() < 10 && b"torn line\n".starts_with(tail),
                "{tail:?}"
            );
            prefixes += 1;
        }
    }
    assert!(
        prefixes > 0 && zeros > 0,
        "{prefixes} prefixes, {zeros} zero fills"
    );
}

/// A random-prefix cut keeps the writes in the order they were made: never a later
/// one without the earlier ones.
#[test]
fn a_random_prefix_cut_keeps_writes_in_order() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let mut rng = Rng::new(seed());
    let path = fs.path().join("log");
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..40 {
        write_durably(&path, b"");
        for line in ["a\n", "b\n", "c\n"] {
            append(&path, line.as_bytes());
        }
        fs.cut(CutMode::RandomPrefix, &mut rng);
        let bytes = fs::read(&path).unwrap();
        assert!(b"a\nb\nc\n".starts_with(&bytes), "{bytes:?}");
        lengths.insert(bytes.len());
    }
    assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [0, 2, 4, 6]);
}

/// Once the power is lost every operation fails, and what it was doing is not durable.
#[test]
fn after_power_loss_every_operation_fails_and_nothing_more_is_kept() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let path = fs.path().join("file");
    write_durably(&path, b"synced");
    fs.lose_power_after(2);
    let mut file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all(b"lost").unwrap();
    let err = file.sync_all().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(5), "{err}"); // EIO
    assert!(fs.power_lost());
    assert!(fs::read(&path).is_err());
    drop(file);
    fs.cut(CutMode::DropAll, &mut Rng::new(0));
    assert_eq!(fs::read(&path).unwrap(), b"synced");
}
