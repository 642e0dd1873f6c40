//! The loop behind the power-cut tests: the real `host-example run` with its state
//! directory on the power-cut file system, the power lost at a seeded instant of each
//! run, the file system cut and mounted again, and the state directory checked.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::crash_loop::{BATCH, completed, run_command};
use crate::observer::{Observation, Observer};
use crate::seeded::Rng;
use pipeline_checkpoint_test_support::power_cut::CutMode;
use pipeline_checkpoint_test_support::power_cut::PowerCutMount;

/// The stream's initial length, and how much it grows when a run finishes it before
/// its power loss: enough that most cuts land mid-run, few enough that the final run
/// and each startup's reading of the sink stay short.
const STREAM_CHUNK: u64 = 1_000;
/// The power is lost at one of the first this many mutating operations of a run. A
/// batch costs nine (sink write and fdatasync; temporary file create, write, fsync,
/// rename, directory fsync; ack write and fdatasync) and startup about a dozen, so
/// cuts land in startup as well as all along the batch loop.
const MAX_MUTATIONS: u64 = 60;
/// The same for runs on SQLite, whose startup (opening and recovering the database,
/// its write-ahead log's header) costs more operations than the batches that follow.
const MAX_MUTATIONS_SQLITE: u64 = 200;

/// What to run.
pub struct Plan {
    pub cuts: usize,
    /// The modes of the cuts, taken in turn.
    pub modes: &'static [CutMode],
    /// The sync that the CLI's `put` leaves out (`file` or `directory`): a mutant the
    /// loop must catch. Debug builds only.
    pub left_out_sync: Option<&'static str>,
    /// Whether the runs keep everything in one SQLite database beside the state
    /// directory (`--storage sqlite://…`) rather than in files.
    pub sqlite: bool,
}

/// What the loop counted, for its summary line.
#[derive(Debug, Default)]
pub struct Tally {
    /// Cuts of each mode, in the order of [`CutMode::ALL`].
    pub cuts_by_mode: [usize; 3],
    /// Cuts after which the durable offset had not moved: the run lost the power
    /// before its first checkpoint was durable.
    pub cuts_without_progress: usize,
    pub runs: usize,
    /// Runs that finished the stream before their power loss.
    pub finished_early: usize,
    pub offset_at_last_cut: u64,
    pub messages: u64,
    /// Sink lines past the durable offset at each restart: processed again.
    pub reprocessed: u64,
    pub duplicate_acks: u64,
    pub elapsed: Duration,
}

impl Tally {
    pub fn cuts(&self) -> usize {
        self.cuts_by_mode.iter().sum()
    }
}

/// Cuts the power `plan.cuts` times at instants drawn from `seed`, checking the state
/// directory after each cut, then lets a final run complete and checks that every
/// message reached the sink and the ack log. Returns the first violation found.
pub fn cut_loop(fs: &mut PowerCutMount, plan: &Plan, seed: u64) -> Result<Tally, String> {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let state = fs.path().join("state");
    let mut files = Observer::new(BATCH);
    files.extend_to(STREAM_CHUNK);
    let mut tally = Tally::default();

    for cut in 1..=plan.cuts {
        let mode = plan.modes[(cut - 1) % plan.modes.len()];
        loop {
            let max = if plan.sqlite {
                MAX_MUTATIONS_SQLITE
            } else {
                MAX_MUTATIONS
            };
            fs.lose_power_after(rng.between(1, max));
            let redelivered = files.seen().past_checkpoint();
            tally.reprocessed += redelivered;
            tally.runs += 1;
            let output = run(&state, files.total(), plan);
            if fs.power_lost() {
                break;
            }
            completed(&output, redelivered, files.total());
            tally.finished_early += 1;
            files.extend_to(files.total() + STREAM_CHUNK);
            observe(&mut files, &state, plan)
                .map_err(|fault| format!("seed {seed}, run {}: {fault}", tally.runs))?;
        }
        let offset_before = files.seen().offset;
        fs.cut(mode, &mut rng);
        let mode_index = CutMode::ALL.iter().position(|&m| m == mode);
        tally.cuts_by_mode[mode_index.expect("every mode is in ALL")] += 1;
        let seen = observe(&mut files, &state, plan)
            .map_err(|fault| format!("seed {seed}, cut {cut} ({mode:?}): {fault}"))?;
        tally.cuts_without_progress += usize::from(seen.offset == offset_before);
    }
    tally.offset_at_last_cut = files.seen().offset;

    // The power stays on: the last cut disarmed it.
    let redelivered = files.seen().past_checkpoint();
    tally.reprocessed += redelivered;
    tally.runs += 1;
    let total = files.total();
    completed(&run(&state, total, plan), redelivered, total);
    let seen = observe(&mut files, &state, plan)
        .map_err(|fault| format!("seed {seed}, after the final run: {fault}"))?;
    // `observe` compared the sink with the stream, in order: a sink as long as the
    // stream holds every message exactly once.
    if seen.offset != total || seen.sink_lines != total {
        return Err(format!(
            "seed {seed}: after the final run the offset is {} and the sink holds {} of \
             {total} messages",
            seen.offset, seen.sink_lines
        ));
    }
    let acks = files.ack_tally();
    if !acks.never_acked.is_empty() {
        return Err(format!(
            "seed {seed}: {} messages below the durable offset were never acknowledged (the \
             first gaps: {:?})",
            acks.never_acked_messages(),
            &acks.never_acked[..acks.never_acked.len().min(5)],
        ));
    }
    // A batch is acked again only by a run that processes it again, and each cut
    // leaves at most one batch to process again.
    let bound = BATCH * plan.cuts as u64;
    if acks.extra_acks > bound {
        return Err(format!(
            "seed {seed}: {} extra acks exceed batch size × cuts = {bound}",
            acks.extra_acks
        ));
    }
    tally.messages = total;
    tally.duplicate_acks = acks.extra_acks;
    tally.elapsed = started.elapsed();
    Ok(tally)
}

/// Runs `host-example run` to its end: a completed stream, or the error that the power
/// loss made it stop with.
fn run(state: &Path, messages: u64, plan: &Plan) -> Output {
    let left_out_sync = plan.left_out_sync;
    let mut command = run_command(state, messages);
    if plan.sqlite {
        command
            .arg("--storage")
            .arg(crate::crash_loop::sqlite_storage(state));
    }
    #[cfg(debug_assertions)]
    {
        use pipeline_checkpoint_host::backends::files::SKIP_PUT_SYNC_VAR;
        match left_out_sync {
            Some(sync) => command.env(SKIP_PUT_SYNC_VAR, sync),
            None => command.env_remove(SKIP_PUT_SYNC_VAR),
        };
    }
    #[cfg(not(debug_assertions))]
    assert!(left_out_sync.is_none(), "release builds have no mutants");
    command.output().expect("host-example runs")
}

/// Checks the state the runs left, wherever the plan keeps it.
fn observe(files: &mut Observer, state: &Path, plan: &Plan) -> Result<Observation, String> {
    if plan.sqlite {
        files.observe_sqlite(&crate::crash_loop::sqlite_database(state))
    } else {
        files.observe(state)
    }
}
