//! [`BatchReader`]: a source read a batch at a time from asynchronous code, a file's
//! lines on tokio's blocking pool so that the executor's threads never wait for a disk.

use super::PipelineError;
use super::source::{Message, Messages, Source};

/// The messages of a [`Source`] in order, a batch at a time.
pub struct BatchReader {
    /// `None` only while a batch is being read on the blocking pool, or after a read
    /// whose future was dropped.
    messages: Option<Messages>,
    source: Source,
}

impl BatchReader {
    /// The source's messages from the first.
    pub fn new(source: &Source) -> Result<Self, PipelineError> {
        Ok(Self {
            messages: Some(source.messages()?),
            source: source.clone(),
        })
    }

    /// The next `count` messages into `batch` (cleared first). A source that has fewer
    /// left than [`Source::scan`] counted changed under the run.
    pub async fn read(
        &mut self,
        count: usize,
        batch: &mut Vec<Message>,
    ) -> Result<(), PipelineError> {
        batch.clear();
        let mut messages = self.messages.take().ok_or_else(|| {
            PipelineError::Mismatch(format!("the source {:?} was left mid-read", self.source))
        })?;
        let source = self.source.clone();
        let mut read = std::mem::take(batch);
        let read_batch = move || {
            let result = fill(&mut messages, &source, count, &mut read);
            (messages, read, result)
        };
        let (messages, read, result) = match self.source {
            // Generated messages are computed, not read: no thread hop for them.
            Source::Generated { .. } => read_batch(),
            Source::File(_) => tokio::task::spawn_blocking(read_batch)
                .await
                .map_err(PipelineError::Task)?,
        };
        self.messages = Some(messages);
        *batch = read;
        result
    }
}

fn fill(
    messages: &mut Messages,
    source: &Source,
    count: usize,
    batch: &mut Vec<Message>,
) -> Result<(), PipelineError> {
    for _ in 0..count {
        let (_, message) = messages.next().unwrap_or_else(|| {
            Err(PipelineError::Mismatch(format!(
                "the source {source:?} ended early: it changed while the pipeline ran"
            )))
        })?;
        batch.push(message);
    }
    Ok(())
}
