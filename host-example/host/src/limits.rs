//! [`Limits`]: what one component instance may consume and hand the host, and the
//! typed [`LimitExceeded`] a call returns when it tries for more.
//!
//! A host that loads plugins it does not trust bounds each instance: its linear
//! memory, the time each call may compute, and the size of everything it passes out
//! (keys, values, ack lists). A call that crosses a limit is stopped, its instance is
//! discarded, and [`crate::Error::Limit`] says which limit; the next call starts a
//! fresh instance from what storage holds. Other instances never notice.

use std::time::Duration;

use thiserror::Error;

/// The bounds on one component instance. Every field has a documented default
/// ([`Limits::default`]) and can be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory an instance may grow to, per memory. Default 16 MiB:
    /// the checkpoint component works within 4 MiB (a contract test holds it to that,
    /// with thousand-id lists). (A limiter counts per memory,
    /// not per instance; the pooling allocator also admits one memory per component,
    /// so for pooled instances this is the instance's whole memory.)
    pub memory_bytes: usize,
    /// Elements a table may grow to. Default 10,000.
    pub table_elements: usize,
    /// How long a call may compute in the component between two host calls: CPU time
    /// of the thread it runs on, checked every [`Limits::tick`] from the first tick on,
    /// so a call that waited for a core on a busy machine is not charged for the wait
    /// (where a platform has no per-thread CPU clock, wall-clock time). Time spent in the host (an fsync, an etcd round trip) does not count:
    /// the deadline restarts whenever a host call returns. Default 1 s.
    pub deadline: Duration,
    /// The epoch tick: how often the deadline is checked, hence its resolution.
    /// Default 10 ms.
    pub tick: Duration,
    /// The longest storage key the component may pass, in bytes. Default 1,024.
    pub key_bytes: usize,
    /// The longest value the component may store, in bytes. Default 64 KiB: a record
    /// is under 100 bytes.
    pub value_bytes: usize,
    /// The most ids one `ack` may carry. Default 100,000.
    pub ids_per_ack: usize,
    /// The longest id an `ack` may carry, in bytes. Default 4 KiB.
    pub id_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            deadline: Duration::from_secs(1),
            tick: Duration::from_millis(10),
            key_bytes: 1024,
            value_bytes: 64 << 10,
            ids_per_ack: 100_000,
            id_bytes: 4096,
        }
    }
}

impl Limits {
    /// The deadline in ticks, at least one.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        (self.deadline.as_nanos().div_ceil(tick) as u64).max(1)
    }
}

/// Which limit a call crossed. The call was stopped and its instance discarded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// The component computed past its deadline without returning to the host.
    #[error("the call computed past its deadline of {0:?}")]
    Deadline(Duration),
    /// The component tried to grow a linear memory past the limit.
    #[error("linear memory would grow to {desired} bytes, over the limit of {limit}")]
    Memory {
        /// The size it asked for.
        desired: usize,
        /// [`Limits::memory_bytes`].
        limit: usize,
    },
    /// The component tried to grow a table past the limit.
    #[error("a table would grow to {desired} elements, over the limit of {limit}")]
    Table {
        /// The size it asked for.
        desired: usize,
        /// [`Limits::table_elements`].
        limit: usize,
    },
    /// The component passed a storage key longer than the limit.
    #[error("a storage key of {len} bytes, over the limit of {limit}")]
    KeyBytes {
        /// The key's length.
        len: usize,
        /// [`Limits::key_bytes`].
        limit: usize,
    },
    /// The component passed a value longer than the limit.
    #[error("a storage value of {len} bytes, over the limit of {limit}")]
    ValueBytes {
        /// The value's length.
        len: usize,
        /// [`Limits::value_bytes`].
        limit: usize,
    },
    /// The component acked more ids at once than the limit.
    #[error("an ack of {count} ids, over the limit of {limit}")]
    IdsPerAck {
        /// The number of ids.
        count: usize,
        /// [`Limits::ids_per_ack`].
        limit: usize,
    },
    /// The component acked an id longer than the limit.
    #[error("an acked id of {len} bytes, over the limit of {limit}")]
    IdBytes {
        /// The id's length.
        len: usize,
        /// [`Limits::id_bytes`].
        limit: usize,
    },
}

/// Enforces [`Limits`] on an instance's memories and tables. A growth past a limit
/// traps at once with [`LimitExceeded`], rather than returning -1 to the component,
/// which may not check it.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    pub(crate) limits: Limits,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.limits.memory_bytes;
        if desired > limit {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                desired,
                limit,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.limits.table_elements;
        if desired > limit {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                desired,
                limit,
            }));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_rounded_up_to_whole_ticks_and_never_zero() {
        let limits = |deadline_ms, tick_ms| Limits {
            deadline: Duration::from_millis(deadline_ms),
            tick: Duration::from_millis(tick_ms),
            ..Limits::default()
        };
        assert_eq!(Limits::default().deadline_ticks(), 100);
        assert_eq!(limits(25, 10).deadline_ticks(), 3);
        assert_eq!(limits(0, 10).deadline_ticks(), 1);
    }
}
