//! The host side of `pipeline:checkpoint/consumer`: the [`Consumer`] trait and an
//! in-memory implementation.

use crate::{AckResult, BoxFuture};

/// The upstream that messages are acknowledged to.
///
/// `ack` must be idempotent: after a retried write the component may ack ids again. An
/// implementation fails a call with an [`crate::AckError`] for the component to act
/// on, or aborts it ([`crate::Fault::Abort`]). Like [`crate::Storage`], it is
/// asynchronous: implement it as an `async fn` whose future is `Send`, with blocking
/// work on tokio's blocking pool.
pub trait Consumer: Send {
    /// Acknowledges `ids`. Returning `Ok` means the upstream will not redeliver them.
    fn ack(&mut self, ids: &[String]) -> impl Future<Output = AckResult> + Send;
}

/// A [`Consumer`] behind a pointer, as a component instance holds it: every
/// `Consumer` is one, and a `Box<dyn DynConsumer>` is a `Consumer` again.
pub trait DynConsumer: Send {
    /// [`Consumer::ack`], its future boxed.
    fn ack_boxed<'a>(&'a mut self, ids: &'a [String]) -> BoxFuture<'a, AckResult>;
}

impl<C: Consumer> DynConsumer for C {
    fn ack_boxed<'a>(&'a mut self, ids: &'a [String]) -> BoxFuture<'a, AckResult> {
        Box::pin(self.ack(ids))
    }
}

impl Consumer for Box<dyn DynConsumer> {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        (**self).ack_boxed(ids).await
    }
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
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        self.calls += 1;
        self.acked.extend_from_slice(ids);
        Ok(())
    }
}
