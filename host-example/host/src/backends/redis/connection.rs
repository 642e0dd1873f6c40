//! A connection to one Redis server, with timeouts on every call, that reconnects on
//! the next call after the server went away.

use redis::{ErrorKind, FromRedisValue, RedisError, ServerErrorKind};
use thiserror::Error;

use super::url::{PASSWORD_ENV, RedisStreamUrl};

/// A Redis call that failed: what it was, against which stream, and Redis's error.
#[derive(Debug, Error)]
#[error("{url}: {what}: {source}")]
pub struct RedisCallError {
    /// The stream's URL (never with a password).
    pub url: String,
    /// The call, in words (`"XACK"`, `"connecting"`).
    pub what: String,
    /// Redis's error.
    #[source]
    pub source: RedisError,
}

impl RedisCallError {
    /// Whether the server could not be reached or answered that it cannot serve now
    /// (loading, a failover): retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        unavailable(&self.source)
    }
}

fn unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
            )
        )
}

/// A client connection to the server a [`RedisStreamUrl`] names.
pub struct RedisConnection {
    url: RedisStreamUrl,
    client: redis::Client,
    connection: Option<redis::Connection>,
}

impl RedisConnection {
    /// Connects, with the URL's timeout on connecting and on every call, the password
    /// (if any) from [`PASSWORD_ENV`].
    pub fn open(url: &RedisStreamUrl) -> Result<Self, RedisCallError> {
        let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        let client = redis::Client::open(url.connection_url(password.as_deref()))
            .map_err(|source| call_error(url, "connecting", source))?;
        let mut opened = Self {
            url: url.clone(),
            client,
            connection: None,
        };
        opened.connection()?;
        Ok(opened)
    }

    /// The URL this connection serves.
    pub fn url(&self) -> &RedisStreamUrl {
        &self.url
    }

    /// Runs `command`, connecting again first if the last call lost the connection.
    /// `what` names the call in an error. Nothing is retried here: only the caller
    /// knows whether its command may run twice (see [`Self::idempotent`]).
    pub fn query<T: FromRedisValue>(
        &mut self,
        what: &str,
        command: &redis::Cmd,
    ) -> Result<T, RedisCallError> {
        let result = command.query(self.connection()?);
        self.settle(what, result)
    }

    /// Runs `pipeline` in one round trip, as [`Self::query`].
    pub fn query_pipeline<T: FromRedisValue>(
        &mut self,
        what: &str,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisCallError> {
        let result = pipeline.query(self.connection()?);
        self.settle(what, result)
    }

    /// Runs a Lua script invocation, as [`Self::query`].
    pub fn invoke<T: FromRedisValue>(
        &mut self,
        what: &str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisCallError> {
        let result = invocation.invoke(self.connection()?);
        self.settle(what, result)
    }

    /// Runs `calls`, and once more on a fresh connection if they failed as
    /// unavailable: for calls that may run twice (`XACK`, reads, appends that skip
    /// what is there). Besides a server that came back, this rides out `EINTR`: on
    /// Linux a socket call with a timeout fails so when its process is stopped and
    /// continued, whether or not the command ran.
    pub fn idempotent<T>(
        &mut self,
        mut calls: impl FnMut(&mut Self) -> Result<T, RedisCallError>,
    ) -> Result<T, RedisCallError> {
        match calls(self) {
            Err(e) if e.is_unavailable() => {
                self.connection = None;
                calls(self)
            }
            result => result,
        }
    }

    fn connection(&mut self) -> Result<&mut redis::Connection, RedisCallError> {
        if self.connection.is_none() {
            let timeout = self.url.timeout;
            let connection = self
                .client
                .get_connection_with_timeout(timeout)
                .and_then(|c| {
                    c.set_read_timeout(Some(timeout))?;
                    c.set_write_timeout(Some(timeout))?;
                    Ok(c)
                })
                .map_err(|source| call_error(&self.url, "connecting", source))?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// A call's result; a connection the call lost (or timed out on: its reply may
    /// still come, and would answer the next call) is dropped, to be made again.
    fn settle<T>(
        &mut self,
        what: &str,
        result: redis::RedisResult<T>,
    ) -> Result<T, RedisCallError> {
        result.map_err(|source| {
            if unavailable(&source) || source.is_unrecoverable_error() {
                self.connection = None;
            }
            call_error(&self.url, what, source)
        })
    }
}

fn call_error(url: &RedisStreamUrl, what: &str, source: RedisError) -> RedisCallError {
    RedisCallError {
        url: url.to_string(),
        what: what.to_owned(),
        source,
    }
}
