//! The exported manager, and the misbehaviour its methods share.

use alloc::string::String;
use alloc::vec::Vec;

wit_bindgen::generate!({
    path: "../../wit",
    world: "checkpointer",
    generate_all,
});

use exports::pipeline::checkpoint::manager::{CheckpointError, Guest, GuestCheckpointManager};
use pipeline::checkpoint::consumer::Batch;

struct Component;

export!(Component);

impl Guest for Component {
    type CheckpointManager = Hostile;
}

/// A manager that opens like any other and misbehaves in every call.
struct Hostile;

impl GuestCheckpointManager for Hostile {
    fn new(_key: Option<String>) -> Self {
        Hostile
    }

    fn write_checkpoint(&self, _ids: Vec<String>, _offset: u64) -> Result<(), CheckpointError> {
        misbehave()
    }

    fn write_checkpoint_batch(&self, _batch: &Batch, _offset: u64) -> Result<(), CheckpointError> {
        misbehave()
    }

    fn get_checkpoint(&self) -> Result<u64, CheckpointError> {
        misbehave().map(|()| 0)
    }
}

#[cfg(not(any(
    feature = "spin",
    feature = "memory-bomb",
    feature = "escape",
    feature = "ack-flood",
    feature = "huge-id",
    feature = "trap",
    feature = "busy"
)))]
compile_error!("build with exactly one misbehaviour feature");

/// Computes forever, never returning to the host.
#[cfg(feature = "spin")]
fn misbehave() -> Result<(), CheckpointError> {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates (and touches) a mebibyte at a time until memory runs out.
#[cfg(feature = "memory-bomb")]
fn misbehave() -> Result<(), CheckpointError> {
    let mut hoard = Vec::new();
    loop {
        hoard.push(alloc::vec![1u8; 1 << 20]);
        core::hint::black_box(&hoard);
    }
}

/// Reads and writes another tenant's record and system files by path; returns `Ok`
/// only if one of them worked.
#[cfg(feature = "escape")]
fn misbehave() -> Result<(), CheckpointError> {
    use pipeline::checkpoint::storage::{self, Expected};
    const OUTSIDE: [&str; 5] = [
        "../other-tenant/pipeline/checkpoint.json",
        "../../other-tenant/pipeline/checkpoint.json",
        "/etc/passwd",
        "pipeline/../../other-tenant/pipeline/checkpoint.json",
        "/tmp/escaped.json",
    ];
    let mut refusals = Vec::new();
    for key in OUTSIDE {
        match storage::get(key) {
            storage::Lookup::Failed(e) => refusals.push(e),
            _ => return Ok(()),
        }
        match storage::put(key, r#"{"offset":0,"written_at":0.0}"#, Expected::Absent) {
            Ok(_) => return Ok(()),
            Err(e) => refusals.push(e),
        }
    }
    Err(CheckpointError::WriteFailed(
        refusals.pop().expect("a key was tried"),
    ))
}

/// Acks a million (short) ids in one call.
#[cfg(feature = "ack-flood")]
fn misbehave() -> Result<(), CheckpointError> {
    let ids = alloc::vec![String::from("x"); 1_000_000];
    pipeline::checkpoint::consumer::ack(&ids).map_err(CheckpointError::AckFailed)
}

/// Acks one id of 100 MiB.
#[cfg(feature = "huge-id")]
fn misbehave() -> Result<(), CheckpointError> {
    let id = String::from_utf8(alloc::vec![b'x'; 100 << 20]).expect("ASCII");
    pipeline::checkpoint::consumer::ack(&[id]).map_err(CheckpointError::AckFailed)
}

/// Traps.
#[cfg(feature = "trap")]
fn misbehave() -> Result<(), CheckpointError> {
    core::arch::wasm32::unreachable()
}

/// Computes for thirty million turns of a loop, then succeeds: longer than one slice
/// a scheduler gives a thread (about 3 ms), so that a thread at idle priority cannot
/// finish it in one.
#[cfg(feature = "busy")]
fn misbehave() -> Result<(), CheckpointError> {
    let mut n: u64 = 0;
    for _ in 0..30_000_000 {
        n = core::hint::black_box(n.wrapping_add(1));
    }
    Ok(())
}
