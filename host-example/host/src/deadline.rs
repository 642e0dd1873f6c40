//! A call's deadline: how long the component may compute between two host calls,
//! counted in the CPU time of the thread it runs on.
//!
//! The engine's epoch advances every [`Limits::tick`] of wall-clock time, and a store
//! whose deadline passes stops at its next check. Wall-clock time alone would charge a
//! component for time it spent waiting for a core: with hundreds of tenants' threads on
//! a few cores, a guest that computed for microseconds can be descheduled for over a
//! second, and a healthy tenant would fail. So the thread's CPU time decides, read one
//! tick after each restart of the deadline (most calls are back in the host by then,
//! and never read it) and at each check after that: a call that has not yet computed for
//! the whole deadline gets the rest of it, and one that has is stopped. The time before
//! the first check is charged as a whole tick, so the deadline keeps the tick's
//! resolution. (Where the platform has no clock of a thread's CPU time, the wall-clock
//! deadline is the deadline.)

use std::time::Duration;

use wasmtime::{AsContextMut, UpdateDeadline};

use crate::bindings::HostState;
use crate::limits::Limits;

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Computing {
    /// Restarted and not yet checked: the component has computed for at most one tick
    /// of wall-clock time, since the first check comes one tick after a restart.
    #[default]
    Unchecked,
    /// Computing since the thread's CPU time was this: one tick before the first check,
    /// the time before it charged as if the component computed throughout.
    Since(Duration),
    /// The thread's CPU time could not be read: the rest of the deadline is wall-clock.
    WallClock,
}

/// Gives the component a whole deadline again, from now: at the start of a call, and
/// whenever a host call returns to it (time spent in the host is not the component's).
///
/// It reads no clock: most calls return to the host within a tick, and those never
/// look at their CPU time. The first check, one tick on, reads it.
pub(crate) fn restart(mut store: impl AsContextMut<Data = HostState>) {
    let mut cx = store.as_context_mut();
    cx.data_mut().computing = Computing::Unchecked;
    cx.set_epoch_deadline(1);
}

/// What the store does at each check: go on for as many ticks as the CPU time left of
/// the deadline, or stop (a trap that [`crate::Error::Limit`] reports as the deadline).
pub(crate) fn on_deadline(state: &mut HostState) -> UpdateDeadline {
    let limits = state.limits;
    let Some(now) = thread_cpu_time() else {
        if state.computing != Computing::Unchecked {
            return UpdateDeadline::Interrupt;
        }
        // One tick of the deadline has passed; the rest is wall-clock time.
        state.computing = Computing::WallClock;
        return match limits.deadline_ticks() - 1 {
            0 => UpdateDeadline::Interrupt,
            left => UpdateDeadline::Continue(left),
        };
    };
    let since = match state.computing {
        Computing::Unchecked => {
            let since = now.saturating_sub(limits.tick);
            state.computing = Computing::Since(since);
            since
        }
        Computing::Since(since) => since,
        Computing::WallClock => return UpdateDeadline::Interrupt,
    };
    let used = now.saturating_sub(since);
    if used < limits.deadline {
        UpdateDeadline::Continue(ticks_left(&limits, used))
    } else {
        UpdateDeadline::Interrupt
    }
}

/// The ticks of wall-clock time after which a call that has computed for `used` is
/// checked again: its CPU time left, at least one tick.
fn ticks_left(limits: &Limits, used: Duration) -> u64 {
    Limits {
        deadline: limits.deadline.saturating_sub(used),
        ..*limits
    }
    .deadline_ticks()
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

    #[test]
    fn the_ticks_left_are_the_cpu_time_left_and_never_zero() {
        let limits = Limits {
            deadline: Duration::from_millis(100),
            tick: Duration::from_millis(10),
            ..Limits::default()
        };
        assert_eq!(ticks_left(&limits, Duration::from_millis(30)), 7);
        assert_eq!(ticks_left(&limits, Duration::from_millis(99)), 1);
        assert_eq!(ticks_left(&limits, Duration::from_secs(5)), 1);
    }
}
