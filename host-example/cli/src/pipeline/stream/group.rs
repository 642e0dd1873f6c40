//! The source stream, read through its consumer group.
//!
//! The batch order is the stream's: each batch is the next entries after the last one
//! processed (`XRANGE (CURSOR + COUNT N`), whoever the group delivered them to. In
//! the same round trip `XREADGROUP … >` delivers the group's new entries to this
//! consumer, so that the group's pending list shows what is in flight, and a worker
//! that dies leaves its entries there. A successor takes them over with `XAUTOCLAIM`
//! at start; and because `XACK` is the group's, not a consumer's, a batch is
//! acknowledged whoever it was delivered to, including entries a zombie took.

use pipeline_checkpoint_host::backends::redis::{RedisCallError, RedisConnection, redis};

use super::output::Entry;

/// What [`Group::next_batch`] read.
pub(super) struct Batch {
    /// The next entries, in stream order.
    pub(super) entries: Vec<Entry>,
    /// The ids the group delivered to this worker.
    pub(super) delivered: Vec<String>,
    /// The stream's length.
    pub(super) length: u64,
}

/// The most entries one `XAUTOCLAIM` call hands over.
const CLAIM_COUNT: usize = 1000;

/// The source stream and this worker's place in its group.
pub(super) struct Group {
    connection: RedisConnection,
    consumer: String,
}

impl Group {
    /// The group on the URL's stream, created (with the stream, if missing) to deliver
    /// from the stream's first entry.
    pub(super) async fn join(
        mut connection: RedisConnection,
        consumer: String,
    ) -> Result<Self, RedisCallError> {
        let url = connection.url().clone();
        let mut create = redis::cmd("XGROUP");
        create
            .arg("CREATE")
            .arg(&url.stream)
            .arg(&url.group)
            .arg("0")
            .arg("MKSTREAM");
        match connection
            .idempotent::<()>("creating the consumer group", &create)
            .await
        {
            Ok(()) => {}
            Err(e) if e.source.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            connection,
            consumer,
        })
    }

    pub(super) fn stream(&self) -> &str {
        &self.connection.url().stream
    }

    fn group(&self) -> &str {
        &self.connection.url().group
    }

    /// This worker's name in the group.
    pub(super) fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The number of entries in the stream.
    pub(super) async fn len(&mut self) -> Result<u64, RedisCallError> {
        let mut xlen = redis::cmd("XLEN");
        xlen.arg(self.stream());
        self.connection.idempotent("XLEN", &xlen).await
    }

    /// Whether the stream holds an entry with id `id`.
    pub(super) async fn contains(&mut self, id: &str) -> Result<bool, RedisCallError> {
        let mut xrange = redis::cmd("XRANGE");
        xrange.arg(self.stream()).arg(id).arg(id);
        let found: Vec<Entry> = self.connection.idempotent("XRANGE", &xrange).await?;
        Ok(!found.is_empty())
    }

    /// Takes over every entry pending in the group, whichever consumer it was
    /// delivered to, and returns their ids in stream order.
    pub(super) async fn claim_pending(&mut self) -> Result<Vec<String>, RedisCallError> {
        let mut claimed = Vec::new();
        let mut start = "0-0".to_owned();
        loop {
            let mut xautoclaim = redis::cmd("XAUTOCLAIM");
            xautoclaim
                .arg(self.stream())
                .arg(self.group())
                .arg(&self.consumer)
                .arg(0)
                .arg(&start)
                .arg("COUNT")
                .arg(CLAIM_COUNT)
                .arg("JUSTID");
            // Redis 7 adds the ids of deleted entries it dropped from the list.
            let reply: redis::Value = self
                .connection
                .idempotent("XAUTOCLAIM", &xautoclaim)
                .await?;
            let (next, ids) = parse_autoclaim(reply)
                .ok_or_else(|| unexpected(&self.connection, "XAUTOCLAIM", "an unexpected reply"))?;
            claimed.extend(ids);
            if next == "0-0" {
                self.forget_idle_consumers().await?;
                return Ok(claimed);
            }
            start = next;
        }
    }

    /// Deletes the group's other consumers that hold no pending entry (all of them,
    /// once this worker claimed everything): each run names a new consumer, and dead
    /// ones would pile up in `XINFO CONSUMERS`. A live one comes back by itself at its
    /// next read.
    async fn forget_idle_consumers(&mut self) -> Result<(), RedisCallError> {
        let mut xinfo = redis::cmd("XINFO");
        xinfo.arg("CONSUMERS").arg(self.stream()).arg(self.group());
        let consumers: Vec<redis::Value> = self
            .connection
            .idempotent("XINFO CONSUMERS", &xinfo)
            .await?;
        for consumer in consumers {
            let Ok(fields) = redis::from_redis_value::<Vec<(String, redis::Value)>>(consumer)
            else {
                continue;
            };
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let name: Option<String> = field("name").and_then(|v| redis::from_redis_value(v).ok());
            let pending: Option<u64> =
                field("pending").and_then(|v| redis::from_redis_value(v).ok());
            if let (Some(name), Some(0)) = (name, pending)
                && name != self.consumer
            {
                let mut delete = redis::cmd("XGROUP");
                delete
                    .arg("DELCONSUMER")
                    .arg(self.stream())
                    .arg(self.group())
                    .arg(&name);
                self.connection
                    .idempotent::<u64>("XGROUP DELCONSUMER", &delete)
                    .await?;
            }
        }
        Ok(())
    }

    /// Up to `count` entries after `cursor` (`None`: from the first), in stream order;
    /// in the same round trip, the group's new entries delivered to this worker
    /// (their ids are returned), and the stream's length.
    pub(super) async fn next_batch(
        &mut self,
        cursor: Option<&str>,
        count: usize,
    ) -> Result<Batch, RedisCallError> {
        let start = cursor.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("XRANGE")
            .arg(self.stream())
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .cmd("XREADGROUP")
            .arg("GROUP")
            .arg(self.group())
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(self.stream())
            .arg(">")
            .cmd("XLEN")
            .arg(self.stream());
        type Delivered = Option<Vec<(String, Vec<Entry>)>>;
        // Sent again after a failure, XREADGROUP may deliver entries twice over: they
        // are this worker's either way, and acknowledged by id.
        let (entries, delivered, length): (Vec<Entry>, Delivered, u64) = self
            .connection
            .idempotent("XRANGE, XREADGROUP and XLEN", &pipeline)
            .await?;
        let delivered = delivered
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries.into_iter().map(|(id, _)| id))
            .collect();
        Ok(Batch {
            entries,
            delivered,
            length,
        })
    }

    /// Waits up to `timeout_ms` (and under half the URL's call timeout, so that the
    /// wait itself never times out) for an entry after `cursor`.
    pub(super) async fn wait_after(
        &mut self,
        cursor: Option<&str>,
        timeout_ms: u64,
    ) -> Result<(), RedisCallError> {
        let call_timeout =
            u64::try_from(self.connection.url().timeout.as_millis()).unwrap_or(u64::MAX);
        let timeout_ms = timeout_ms.min(call_timeout / 2).max(1);
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(timeout_ms)
            .arg("STREAMS")
            .arg(self.stream())
            .arg(cursor.unwrap_or("0-0"));
        self.connection
            .idempotent::<redis::Value>("XREAD", &xread)
            .await
            .map(drop)
    }
}

/// `[next-start, [ids…], [deleted…]]` → the next start and the ids.
fn parse_autoclaim(reply: redis::Value) -> Option<(String, Vec<String>)> {
    let redis::Value::Array(mut parts) = reply else {
        return None;
    };
    if parts.len() < 2 {
        return None;
    }
    let ids = parts.swap_remove(1);
    let next: String = redis::from_redis_value(parts.swap_remove(0)).ok()?;
    let ids: Vec<String> = redis::from_redis_value(ids).ok()?;
    Some((next, ids))
}

fn unexpected(connection: &RedisConnection, what: &str, why: &'static str) -> RedisCallError {
    RedisCallError {
        url: connection.url().to_string(),
        what: what.to_owned(),
        source: redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, why)),
    }
}
