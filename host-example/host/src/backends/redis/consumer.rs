//! [`RedisStreamConsumer`]: acknowledgements as `XACK` on a stream's consumer group.

use crate::error::{AckError, Fault};
use crate::{AckResult, Consumer};

use super::{RedisCallError, RedisConnection, RedisStreamUrl};

/// Acknowledges entry ids of one stream on one consumer group with `XACK`.
///
/// Unreachable server, a timeout or a dropped connection: `unavailable` (the next
/// call connects again). Anything Redis refuses (an id that is not a stream id, a
/// group that does not exist, a key that is not a stream): `rejected`, with Redis's
/// words.
pub struct RedisStreamConsumer {
    connection: RedisConnection,
}

impl RedisStreamConsumer {
    /// A consumer of the stream and group `url` names, connected.
    pub async fn open(url: &RedisStreamUrl) -> Result<Self, RedisCallError> {
        Ok(Self::new(RedisConnection::open(url).await?))
    }

    /// A consumer over an open connection.
    pub fn new(connection: RedisConnection) -> Self {
        Self { connection }
    }
}

impl Consumer for RedisStreamConsumer {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        if ids.is_empty() {
            return Ok(());
        }
        let url = self.connection.url();
        let mut xack = redis::cmd("XACK");
        xack.arg(&url.stream).arg(&url.group).arg(ids);
        // XACK may run twice: an id acknowledged already counts 0.
        let acked = self.connection.idempotent::<u64>("XACK", &xack).await;
        match acked {
            Ok(_) => Ok(()),
            Err(e) if e.is_unavailable() => Err(Fault::Error(AckError::Unavailable(e.to_string()))),
            Err(e) => Err(Fault::Error(AckError::Rejected(e.to_string()))),
        }
    }
}
