//! The host side of `pipeline:checkpoint/consumer`: the [`Consumer`] trait and an
//! in-memory implementation.

use crate::AckResult;

/// The upstream that messages are acknowledged to.
///
/// `ack` must be idempotent: after a retried write the component may ack ids again. An
/// implementation fails a call with an [`crate::AckError`] for the component to act
/// on, or aborts it ([`crate::Fault::Abort`]).
pub trait Consumer: Send {
    /// Acknowledges `ids`. Returning `Ok` means the upstream will not redeliver them.
    fn ack(&mut self, ids: &[String]) -> AckResult;
}

/// A consumer that keeps every acknowledged id, in order, in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryConsumer {
    acked: Vec<String>,
    calls: usize,
}

impl MemoryConsumer {
    /// A consumer with nothing acknowledged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every id acknowledged so far, in order, repeats included.
    pub fn acked(&self) -> &[String] {
        &self.acked
    }

    /// How many times `ack` was called.
    pub fn calls(&self) -> usize {
        self.calls
    }
}

impl Consumer for MemoryConsumer {
    fn ack(&mut self, ids: &[String]) -> AckResult {
        self.calls += 1;
        self.acked.extend_from_slice(ids);
        Ok(())
    }
}

impl<C: Consumer + ?Sized> Consumer for Box<C> {
    fn ack(&mut self, ids: &[String]) -> AckResult {
        (**self).ack(ids)
    }
}
