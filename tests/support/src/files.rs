//! Fixtures, files and processes the tests look at.

use std::path::{Path, PathBuf};

/// The directory `tests/fixtures/<sub>` of the workspace.
pub fn fixture_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(sub)
}

/// Every file in `tests/fixtures/<sub>`, as (file name, contents), sorted by name.
pub fn fixtures(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixture_dir(sub);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("a readable fixture"))
        })
        .collect();
    files.sort();
    files
}

/// Runs `python3 -c script` with `stdin` as its input and returns its standard output.
/// Fails the test if python3 cannot be run or exits with an error.
#[track_caller]
pub fn python(script: &str, stdin: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be runnable for the interop tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python3 printed UTF-8")
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The newline-terminated lines in the file at `path` (0 if it does not exist).
pub fn lines_in(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// A temporary directory in memory (under `/dev/shm`) where there is one, else an
/// ordinary one: for tests whose property is the executor's or the host's, not the
/// disk's, and whose thousands of syncs would only cost time on a disk.
pub fn in_memory_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    match shm.is_dir() {
        true => tempfile::tempdir_in(shm),
        false => tempfile::tempdir(),
    }
    .expect("a temporary directory")
}
