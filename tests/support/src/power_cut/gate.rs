//! A gate on the power-cut file system's mutating operations: a test holds them (all
//! of them, or only the syncs) to stop the code under test at an instant it chooses,
//! lets them through one at a time, and waits for the next to arrive. It is how a test
//! keeps the SQLite committer inside one commit while it lines up the next group.

use std::sync::{Condvar, Mutex, MutexGuard};

use tokio::sync::watch;

/// Which mutating operations the gate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// None: every operation goes through.
    Nothing,
    /// Every mutating operation: writes, truncations, creations, removals, renames and
    /// syncs.
    Everything,
    /// Syncs (fsync, fdatasync, a directory's fsync) only.
    Syncs,
}

/// What a mutating operation is, for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    /// A change of data or of a directory.
    Change,
    /// A sync.
    Sync,
}

impl Hold {
    fn holds(self, operation: Operation) -> bool {
        match self {
            Hold::Nothing => false,
            Hold::Everything => true,
            Hold::Syncs => operation == Operation::Sync,
        }
    }
}

/// The gate, shared by the file system's thread (which waits at it) and the test
/// (which opens it, holds it, and lets operations through).
#[derive(Debug)]
pub(super) struct Gate {
    state: Mutex<State>,
    changed: Condvar,
    /// How many operations have arrived at the gate while it held them, ever.
    arrivals: watch::Sender<u64>,
}

#[derive(Debug)]
struct State {
    hold: Hold,
    /// Held operations that may go through now, each once.
    passes: u64,
}

impl Gate {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                hold: Hold::Nothing,
                passes: 0,
            }),
            changed: Condvar::new(),
            arrivals: watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called before each mutating operation: returns once the gate lets it through.
    pub(super) fn pass(&self, operation: Operation) {
        let mut state = self.state();
        if !state.hold.holds(operation) {
            return;
        }
        self.arrivals.send_modify(|n| *n += 1);
        while state.hold.holds(operation) {
            if state.passes > 0 {
                state.passes -= 1;
                return;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Holds `hold` from now on; operations held already go through if it no longer
    /// holds them. Passes not yet used are forgotten.
    pub(super) fn hold(&self, hold: Hold) {
        let mut state = self.state();
        state.hold = hold;
        state.passes = 0;
        self.changed.notify_all();
    }

    /// Lets one held operation through: the one waiting, or else the next to arrive.
    pub(super) fn let_one_through(&self) {
        self.state().passes += 1;
        self.changed.notify_all();
    }

    /// How many operations have arrived at the gate while it held them: it counts up
    /// each time one arrives.
    pub(super) fn arrivals(&self) -> watch::Receiver<u64> {
        self.arrivals.subscribe()
    }
}
