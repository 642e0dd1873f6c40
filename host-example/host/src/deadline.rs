//! A call's deadline, and how a component that computes for long shares its thread:
//! how long the component may compute between two host calls, counted in CPU time, with
//! a yield to the executor at every check.
//!
//! The engine's epoch advances every [`crate::Limits::tick`] of wall-clock time, and a store
//! whose deadline passes stops at its next check. At each check the instance yields:
//! its fiber is suspended, the executor's thread runs other tasks (other tenants'
//! checkpoints), and the instance goes on when the executor comes back to it. So a
//! tenant that spins holds a thread for one tick at a time, not for its whole deadline.
//!
//! Wall-clock time would charge a component for the time it waited: for a core, or for
//! its turn after a yield, which on a busy host can be far longer than it computed. So
//! the deadline counts CPU time, slice by slice: a slice runs from the instance's
//! resumption (or from the host call that restarted the deadline) to the next check,
//! always on one thread, and its length is that thread's CPU time over it. The first
//! slice after a restart is charged as a whole tick without reading any clock: most
//! calls are back in the host before a tick passes and never read one. (Where the
//! platform has no clock of a thread's CPU time, every slice counts as a tick.)

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::{AsContextMut, UpdateDeadline};

use crate::bindings::HostState;

/// The CPU time the current thread has used, where the platform keeps one.
#[cfg(unix)]
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to write.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (read == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(not(unix))]
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Where the deadline of the code running now stands.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    /// CPU time the component has computed since the deadline restarted, in the slices
    /// that ended at a check.
    used: Duration,
    /// Whether the current slice began at a restart (no check since): it is charged a
    /// whole tick.
    fresh: bool,
    /// The thread's CPU time when the instance last resumed after a yield, in
    /// nanoseconds, written by the yield's future on the thread that then runs it.
    resumed_at: Arc<AtomicU64>,
}

/// Gives the component a whole deadline again, from now: at the start of a call, and
/// whenever a host call returns to it (time spent in the host is not the component's).
///
/// It reads no clock: most calls return to the host within a tick, and those never
/// look at their CPU time. The first check, one tick on, charges that tick.
pub(crate) fn restart(mut store: impl AsContextMut<Data = HostState>) {
    let mut cx = store.as_context_mut();
    let deadline = &mut cx.data_mut().deadline;
    deadline.used = Duration::ZERO;
    deadline.fresh = true;
    cx.set_epoch_deadline(1);
}

/// What the store does at each check: count the slice that ends here, then stop the
/// call if it has computed for its whole deadline (a trap that [`crate::Error::Limit`]
/// reports as the deadline), or else yield and check again one tick after resuming.
pub(crate) fn on_deadline(state: &mut HostState) -> UpdateDeadline {
    let limits = state.limits;
    let deadline = &mut state.deadline;
    let now = thread_cpu_time();
    let slice = match (deadline.fresh, now) {
        (true, _) | (false, None) => limits.tick,
        (false, Some(now)) => {
            let resumed = Duration::from_nanos(deadline.resumed_at.load(Ordering::Relaxed));
            now.saturating_sub(resumed)
        }
    };
    deadline.fresh = false;
    deadline.used += slice;
    if deadline.used >= limits.deadline {
        return UpdateDeadline::Interrupt;
    }
    UpdateDeadline::YieldCustom(1, yield_then_mark(deadline.resumed_at.clone()))
}

/// Gives the thread back to the executor once, then records the CPU time of the thread
/// that resumes the instance, where the next slice starts.
fn yield_then_mark(resumed_at: Arc<AtomicU64>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        let now = thread_cpu_time().unwrap_or_default();
        resumed_at.store(now.as_nanos() as u64, Ordering::Relaxed);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_sleeping_thread_uses_no_cpu_time_toward_its_deadline() {
        let before = thread_cpu_time().expect("unix threads have a CPU clock");
        std::thread::sleep(Duration::from_millis(50));
        let used = thread_cpu_time().unwrap() - before;
        assert!(used < Duration::from_millis(50), "{used:?}");
    }
}
