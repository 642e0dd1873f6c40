//! An asynchronous connection to one Redis server, with timeouts on every call, that
//! reconnects on the next call after the server went away.

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, FromRedisValue, RedisError, ServerErrorKind};
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

/// A client connection to the server a [`RedisStreamUrl`] names, on tokio: one
/// multiplexed connection, whose every call is bounded by the URL's timeout.
///
/// Calls take `&mut self`: a connection serves one caller at a time, in order, as the
/// pipeline's reads, appends and acknowledgements need.
pub struct RedisConnection {
    url: RedisStreamUrl,
    client: redis::Client,
    connection: Option<MultiplexedConnection>,
}

impl RedisConnection {
    /// Connects, with the URL's timeout on connecting and on every call, the password
    /// (if any) from [`PASSWORD_ENV`].
    pub async fn open(url: &RedisStreamUrl) -> Result<Self, RedisCallError> {
        let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        let client = redis::Client::open(url.connection_url(password.as_deref()))
            .map_err(|source| call_error(url, "connecting", source))?;
        let mut opened = Self {
            url: url.clone(),
            client,
            connection: None,
        };
        opened.connection().await?;
        Ok(opened)
    }

    /// The URL this connection serves.
    pub fn url(&self) -> &RedisStreamUrl {
        &self.url
    }

    /// Runs `command`, connecting again first if the last call lost the connection.
    /// `what` names the call in an error. Nothing is retried here: only the caller
    /// knows whether its command may run twice (see [`Self::idempotent`]).
    pub async fn query<T: FromRedisValue>(
        &mut self,
        what: &str,
        command: &redis::Cmd,
    ) -> Result<T, RedisCallError> {
        self.call(what, Call::Command(command)).await
    }

    /// Runs `pipeline` in one round trip, as [`Self::query`].
    pub async fn query_pipeline<T: FromRedisValue>(
        &mut self,
        what: &str,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisCallError> {
        self.call(what, Call::Pipeline(pipeline)).await
    }

    /// Runs a Lua script invocation, as [`Self::query`].
    pub async fn invoke<T: FromRedisValue>(
        &mut self,
        what: &str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisCallError> {
        self.call(what, Call::Script(invocation)).await
    }

    /// Runs `call`, and once more on a fresh connection if it failed as unavailable:
    /// for calls that may run twice (`XACK`, reads, appends that skip what is there),
    /// so that a server that came back, or a connection it closed while idle, costs no
    /// error. `call` is a command, a pipeline or a script invocation:
    /// `connection.idempotent("XLEN", &xlen).await`.
    pub async fn idempotent<'c, T: FromRedisValue>(
        &mut self,
        what: &str,
        call: impl Into<Call<'c>>,
    ) -> Result<T, RedisCallError> {
        let call = call.into();
        match self.call(what, call).await {
            Err(e) if e.is_unavailable() => {
                self.connection = None;
                self.call(what, call).await
            }
            result => result,
        }
    }

    async fn call<T: FromRedisValue>(
        &mut self,
        what: &str,
        call: Call<'_>,
    ) -> Result<T, RedisCallError> {
        let connection = self.connection().await?;
        let result = match call {
            Call::Command(command) => command.query_async(connection).await,
            Call::Pipeline(pipeline) => pipeline.query_async(connection).await,
            Call::Script(invocation) => invocation.invoke_async(connection).await,
        };
        self.settle(what, result)
    }

    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, RedisCallError> {
        if self.connection.is_none() {
            let timeout = self.url.timeout;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout));
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|source| call_error(&self.url, "connecting", source))?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// A call's result; a connection the call lost (or timed out on) is dropped, to be
    /// made again: after a timeout the server may be gone, and a fresh connection
    /// finds out within one timeout rather than queueing behind the late reply.
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

/// One request to Redis, for [`RedisConnection::idempotent`]: each converts from a
/// reference to what it runs.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Call<'c> {
    /// A command (`redis::cmd("XACK")…`).
    Command(&'c redis::Cmd),
    /// Commands in one round trip.
    Pipeline(&'c redis::Pipeline),
    /// A Lua script with its keys and arguments.
    Script(&'c redis::ScriptInvocation<'c>),
}

impl<'c> From<&'c redis::Cmd> for Call<'c> {
    fn from(command: &'c redis::Cmd) -> Self {
        Self::Command(command)
    }
}

impl<'c> From<&'c redis::Pipeline> for Call<'c> {
    fn from(pipeline: &'c redis::Pipeline) -> Self {
        Self::Pipeline(pipeline)
    }
}

impl<'c> From<&'c redis::ScriptInvocation<'c>> for Call<'c> {
    fn from(invocation: &'c redis::ScriptInvocation<'c>) -> Self {
        Self::Script(invocation)
    }
}

fn call_error(url: &RedisStreamUrl, what: &str, source: RedisError) -> RedisCallError {
    RedisCallError {
        url: url.to_string(),
        what: what.to_owned(),
        source,
    }
}
