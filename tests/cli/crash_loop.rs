//! `kill -9` at random instants against the real `host-example run`: after every kill,
//! and once a final run completes, the state directory's files alone show that the
//! checkpoint record is always whole, that no message was acknowledged ahead of its
//! durable checkpoint, that the durable offset never moved backwards, and that nothing
//! was lost.
//!
//! The kill instants come from a seeded generator. The seed is printed, and
//! `CHECKPOINT_TEST_SEED` replays the same schedule of delays; the child's own pace
//! still varies, so a replay lands near the same instructions, not exactly on them.
#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::StorageExt;
use pipeline_checkpoint_test_support::block_on;

use crate::etcd_server::EtcdServer;
use crate::observer::{Observation, Observer};
use crate::seeded::{Rng, seed};
use pipeline_checkpoint_host::backends::object_storage::Cloud;
use pipeline_checkpoint_test_support::object_stores::ObjectServer;

/// Messages per batch: each batch is one sink append, one checkpoint, one ack.
pub(crate) const BATCH: u64 = 100;
/// The stream's initial length, and how much it grows whenever a run finishes it
/// before its kill: kills must keep landing in the middle of a run, however fast the
/// disk's fsync is, and the final run must stay short.
const STREAM_CHUNK: u64 = 20_000;
/// Kills aimed at the batch loop land up to this long after the run's first ack.
const MAX_DELAY_MS: u64 = 30;
/// Kills aimed at startup land up to this long after the spawn: loading the
/// component, reading the checkpoint, cutting the sink back, the first put.
const MAX_STARTUP_DELAY_MS: u64 = 150;
/// The exit signal of a process that `Child::kill` ended.
const SIGKILL: i32 = 9;

/// Across 100 SIGKILLs at random instants of real runs, the files never show a torn
/// record, an ack ahead of the durable offset or an offset going backwards, and the
/// run that finally completes has lost nothing.
#[test]
fn kill_9_at_random_instants_never_acks_ahead_of_durability_nor_loses_messages() {
    crash_loop(100, Records::Files);
}

/// The same property across 1,000 kills (or `CRASH_LOOP_KILLS`).
#[test]
#[ignore = "minutes long; run with --ignored, CRASH_LOOP_KILLS=N to change the count"]
fn crash_loop_long() {
    crash_loop(kills_from_env(), Records::Files);
}

/// The same property with the checkpoint in a real etcd (`--storage etcd://…`): the
/// sink and ack log stay in files, the record is read back from etcd after each kill.
#[test]
fn kill_9_with_etcd_storage_never_acks_ahead_of_durability_nor_loses_messages() {
    let test = "kill_9_with_etcd_storage_never_acks_ahead_of_durability_nor_loses_messages";
    if let Some(etcd) = EtcdServer::start(test) {
        crash_loop(30, Records::Etcd(&etcd));
    }
}

/// The same property with the checkpoint in an S3 bucket (`--storage s3://…`, moto).
#[test]
fn kill_9_with_s3_storage_never_acks_ahead_of_durability_nor_loses_messages() {
    let test = "kill_9_with_s3_storage_never_acks_ahead_of_durability_nor_loses_messages";
    object_crash_loop(Cloud::S3, test, 20);
}

/// The same property with the checkpoint in a GCS bucket (`--storage gs://…`,
/// fake-gcs-server behind the tests' front).
#[test]
fn kill_9_with_gcs_storage_never_acks_ahead_of_durability_nor_loses_messages() {
    let test = "kill_9_with_gcs_storage_never_acks_ahead_of_durability_nor_loses_messages";
    object_crash_loop(Cloud::Gcs, test, 20);
}

/// The same property with the checkpoint in an Azure container (`--storage az://…`,
/// Azurite).
#[test]
fn kill_9_with_azure_storage_never_acks_ahead_of_durability_nor_loses_messages() {
    let test = "kill_9_with_azure_storage_never_acks_ahead_of_durability_nor_loses_messages";
    object_crash_loop(Cloud::Azure, test, 20);
}

/// The S3 crash loop across 1,000 kills (or `CRASH_LOOP_KILLS`).
#[test]
#[ignore = "minutes long; run with --ignored, CRASH_LOOP_KILLS=N to change the count"]
fn crash_loop_long_s3() {
    object_crash_loop(Cloud::S3, "crash_loop_long_s3", kills_from_env());
}

/// The crash loop with the record in `cloud`'s emulator, `kills` times.
fn object_crash_loop(cloud: Cloud, test: &str, kills: usize) {
    if let Some(server) = ObjectServer::start(cloud, test) {
        server.create_bucket("crash-loop");
        crash_loop(kills, Records::Objects(&server));
    }
}

/// The same property with everything in one SQLite database (`--storage sqlite://…`):
/// the record, the sink and the ack log are read back from a copy of it after each
/// kill.
#[test]
fn kill_9_with_sqlite_storage_never_acks_ahead_of_durability_nor_loses_messages() {
    crash_loop(60, Records::Sqlite);
}

/// The etcd crash loop across 1,000 kills (or `CRASH_LOOP_KILLS`).
#[test]
#[ignore = "minutes long; run with --ignored, CRASH_LOOP_KILLS=N to change the count"]
fn crash_loop_long_etcd() {
    if let Some(etcd) = EtcdServer::start("crash_loop_long_etcd") {
        crash_loop(kills_from_env(), Records::Etcd(&etcd));
    }
}

fn kills_from_env() -> usize {
    crate::seeded::count_from_env("CRASH_LOOP_KILLS", 1_000)
}

/// Where the runs keep the checkpoint record.
#[derive(Clone, Copy)]
enum Records<'a> {
    /// In the state directory (the default).
    Files,
    /// In this etcd, under the prefix `crash-loop`.
    Etcd(&'a EtcdServer),
    /// In this emulator's bucket `crash-loop`, under the prefix `records`.
    Objects(&'a ObjectServer),
    /// With the sink and the ack log, in the SQLite database [`sqlite_database`].
    Sqlite,
}

/// The database of a `Records::Sqlite` run with state directory `state`: beside it.
pub(crate) fn sqlite_database(state: &Path) -> std::path::PathBuf {
    state.with_extension("db")
}

/// The `--storage` URL of [`sqlite_database`].
pub(crate) fn sqlite_storage(state: &Path) -> String {
    format!("sqlite://{}", sqlite_database(state).display())
}

impl Records<'_> {
    /// The arguments that select this storage.
    fn args(self, state: &Path) -> Vec<String> {
        match self {
            Records::Files => Vec::new(),
            Records::Sqlite => vec!["--storage".into(), sqlite_storage(state)],
            Records::Etcd(etcd) => vec!["--storage".into(), etcd.url("crash-loop")],
            Records::Objects(server) => vec![
                "--storage".into(),
                server.cli_url_at(server.port(), "crash-loop", "records"),
            ],
        }
    }

    /// Checks the state directory with the record wherever it is.
    fn observe(self, files: &mut Observer, state: &Path) -> Result<Observation, String> {
        match self {
            Records::Files => files.observe(state),
            Records::Etcd(etcd) => {
                let record = block_on(etcd.storage("crash-loop").value(crate::support::KEY))
                    .map_err(|e| format!("reading the record from etcd: {e}"))?;
                files.observe_with_record(state, record.map(String::into_bytes))
            }
            Records::Objects(server) => {
                let record = server.object("crash-loop", "records/pipeline/checkpoint.json");
                files.observe_with_record(state, record)
            }
            Records::Sqlite => files.observe_sqlite(&sqlite_database(state)),
        }
    }

    /// A file that changes at every ack: the ack log, or the database's write-ahead
    /// log.
    fn changes_at_each_ack(self, state: &Path) -> std::path::PathBuf {
        match self {
            Records::Sqlite => {
                std::path::PathBuf::from(format!("{}-wal", sqlite_database(state).display()))
            }
            _ => state.join("acks.log"),
        }
    }
}

/// What the loop counted, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    /// Kills aimed at startup rather than at the batch loop.
    startup_kills: usize,
    /// The durable offset after the last kill: the final run does the rest.
    offset_at_last_kill: u64,
    runs: usize,
    /// Runs that finished the stream before their kill landed.
    finished_early: usize,
    /// Sink lines past the durable offset at each restart: what the restarted run
    /// processes again.
    reprocessed: u64,
    /// The redelivered counts that completed runs printed.
    reported_redelivered: u64,
}

/// Kills `host-example run` `kills` times at random instants, checking the state
/// directory after each kill, then lets a final run complete and checks that every
/// message reached the sink and the ack log.
fn crash_loop(kills: usize, records: Records) {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut files = Observer::new(BATCH);
    files.extend_to(STREAM_CHUNK);
    let mut tally = Tally::default();

    while tally.kills < kills {
        let redelivered = files.seen().past_checkpoint();
        tally.reprocessed += redelivered;
        tally.runs += 1;
        let child = spawn(&state, files.total(), records);
        match kill_at_random_instant(child, &records.changes_at_each_ack(&state), &mut rng) {
            Ended::Killed { at_startup } => {
                tally.kills += 1;
                tally.startup_kills += usize::from(at_startup);
            }
            Ended::Exited(output) => {
                tally.reported_redelivered += completed(&output, redelivered, files.total());
                tally.finished_early += 1;
                // Appending to the stream gives the next runs work again.
                files.extend_to(files.total() + STREAM_CHUNK);
            }
        }
        records.observe(&mut files, &state).unwrap_or_else(|fault| {
            panic!(
                "seed {seed}, run {} ({} kills): {fault}",
                tally.runs, tally.kills
            )
        });
    }
    tally.offset_at_last_kill = files.seen().offset;

    let redelivered = files.seen().past_checkpoint();
    tally.reprocessed += redelivered;
    tally.runs += 1;
    let output = spawn(&state, files.total(), records)
        .wait_with_output()
        .expect("the final run is reaped");
    let total = files.total();
    tally.reported_redelivered += completed(&output, redelivered, total);
    let seen = records
        .observe(&mut files, &state)
        .unwrap_or_else(|fault| panic!("seed {seed}, after the final run: {fault}"));
    // `observe` compared the sink with the stream's lines, in order, so a sink as long
    // as the stream holds every message exactly once.
    assert_eq!(seen.offset, total, "seed {seed}");
    assert_eq!(seen.sink_lines, total, "seed {seed}: messages lost");
    if let Records::Files = records {
        assert_no_temp_file_left(&state, &output);
    }

    let acks = files.ack_tally();
    println!(
        "crash loop: {} kills ({} at startup), {} restarts ({} runs finished before their \
         kill), {} messages, offset {} at the last kill, final offset {}, lost 0, never acked \
         {}, duplicate acks {} ({} extra acks), re-processed {} (completed runs reported {} \
         redelivered), {:.1} s",
        tally.kills,
        tally.startup_kills,
        tally.runs - 1,
        tally.finished_early,
        total,
        tally.offset_at_last_kill,
        seen.offset,
        acks.never_acked_messages(),
        acks.duplicated_ids,
        acks.extra_acks,
        tally.reprocessed,
        tally.reported_redelivered,
        started.elapsed().as_secs_f64(),
    );
    // A batch is acked again only by a run that processes it again, and each kill
    // leaves at most one batch to process again.
    let bound = BATCH * tally.kills as u64;
    assert!(
        acks.extra_acks <= bound,
        "seed {seed}: {} extra acks exceed batch size × kills = {bound}",
        acks.extra_acks
    );
    assert!(
        acks.never_acked.is_empty(),
        "seed {seed}: {} messages below the durable offset were never acknowledged, in {} \
         gaps of the ack log (the first: {:?})",
        acks.never_acked_messages(),
        acks.never_acked.len(),
        &acks.never_acked[..acks.never_acked.len().min(5)],
    );
}

/// `host-example run` over `state` with `messages` generated messages, its output
/// captured: with `--quiet` it prints four lines at the very end, so the pipes never
/// fill while the child runs.
fn spawn(state: &Path, messages: u64, records: Records) -> Child {
    run_command(state, messages)
        .args(records.args(state))
        .spawn()
        .expect("host-example starts")
}

/// The command of [`spawn`] for records in the state directory, for callers that add
/// to it.
pub(crate) fn run_command(state: &Path, messages: u64) -> Command {
    let mut command = crate::support::host_example_command();
    command
        .arg("--state-dir")
        .arg(state)
        .args(["run", "--messages", &messages.to_string()])
        .args(["--batch-size", &BATCH.to_string(), "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// How a run under the loop ended.
enum Ended {
    Killed {
        at_startup: bool,
    },
    /// It exited by itself before the kill landed.
    Exited(Output),
}

/// Gives the child a random time to run, then SIGKILLs it and reaps it.
fn kill_at_random_instant(mut child: Child, acks: &Path, rng: &mut Rng) -> Ended {
    // The generator is drawn from in the same order whatever the child does, so a
    // seed always replays the same delays.
    let at_startup = rng.below(5) == 0;
    let delay = match (at_startup, rng.below(3)) {
        (true, 0) => 0,
        (true, _) => rng.between(0, MAX_STARTUP_DELAY_MS),
        (false, _) => rng.between(0, MAX_DELAY_MS),
    };
    if !at_startup {
        // Startup takes longer than most delays: aim the other four kills in five at
        // the batch loop (sink append, temporary file, rename, ack) by counting from
        // this run's first ack.
        let before = fingerprint(acks);
        let give_up = Instant::now() + Duration::from_secs(60);
        while fingerprint(acks) == before
            && child.try_wait().expect("polling the child").is_none()
            && Instant::now() < give_up
        {
            thread::sleep(Duration::from_millis(1));
        }
    }
    // The process must run for the drawn time before it is killed.
    thread::sleep(Duration::from_millis(delay));
    if child.try_wait().expect("polling the child").is_none() {
        child.kill().expect("SIGKILL is delivered");
    }
    let output = child.wait_with_output().expect("the child is reaped");
    if output.status.signal() == Some(SIGKILL) {
        Ended::Killed { at_startup }
    } else {
        Ended::Exited(output)
    }
}

/// A file's length and modification time: a write-ahead log is rewritten from its
/// start once it has been checkpointed, so its length alone may not change.
fn fingerprint(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}

/// Checks that a run exited by itself having completed the stream and reported the
/// `redelivered` messages it was expected to process again; returns that count.
#[track_caller]
pub(crate) fn completed(output: &Output, redelivered: u64, total: u64) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "a run failed ({}): {stdout}{stderr}",
        output.status
    );
    assert!(
        stdout.contains(&format!("durable offset {total} of {total} (complete)")),
        "{stdout}"
    );
    // The sink lines past the checkpoint, counted from the files before the run, are
    // exactly what the run says it processed again.
    assert!(
        stdout.contains(&format!(
            "({redelivered} redelivered from the previous run)"
        )),
        "expected {redelivered} redelivered: {stdout}"
    );
    redelivered
}

/// A completed run that wrote a checkpoint has removed every temporary file that the
/// kills left behind.
fn assert_no_temp_file_left(state: &Path, final_run: &Output) {
    if String::from_utf8_lossy(&final_run.stdout).contains(" in 0 batches") {
        return; // the last kill landed after the last put: nothing was written since
    }
    let names = crate::support::names_in(&state.join("pipeline"));
    assert_eq!(names, ["checkpoint.json"], "debris after a completed run");
}
