//! Redis Streams, the consumer side: [`RedisStreamConsumer`] acknowledges entry ids
//! with `XACK` on a consumer group, so a checkpointed batch leaves the group's pending
//! list only once its offset is durable. Behind the feature `redis`.
//!
//! `XACK` is idempotent per id: a repeated id, or one the group never delivered,
//! counts 0 and is no error. That is what the contract asks of `ack`: a batch whose
//! offset was durable but whose ack failed is acknowledged again, whole, later.
//!
//! [`RedisStreamUrl`] names a stream and its group; [`RedisConnection`] is a client
//! connection with its timeouts, which reconnects after a dropped connection. The
//! client crate is re-exported as [`redis`] so that hosts use the same version.

mod connection;
mod consumer;
mod url;

pub use ::redis;
pub use connection::{Call, RedisCallError, RedisConnection};
pub use consumer::RedisStreamConsumer;
pub use url::{DEFAULT_GROUP, DEFAULT_TIMEOUT, InvalidRedisUrl, PASSWORD_ENV, RedisStreamUrl};
