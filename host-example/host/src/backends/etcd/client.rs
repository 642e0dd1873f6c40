//! One etcd call over a cluster: the members tried in turn within the call's deadline,
//! over plain HTTP or TLS, with an auth token that is renewed when etcd drops it.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::answer::{Chain, Failure, answer_error, transport_error};
use super::auth::Credentials;
use super::tls;
use super::url::EtcdUrl;
use crate::{Cause, StorageError};

/// Whether a call may be sent again, to the same member or another, once it may have
/// reached one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// Reads: sending one twice changes nothing.
    Always,
    /// Writes: sent again only when the first send provably did not reach etcd, or
    /// etcd said it did not apply it. A write that may have been applied is reported
    /// as `Unavailable` at once: retried blindly, a transaction whose compare matched
    /// the first time would fail the second, and a landed write would look lost.
    IfUnapplied,
}

/// The longest pause between two passes over a cluster whose members all failed.
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// An HTTP client for the members of one cluster. Clones share its connections.
#[derive(Debug, Clone)]
pub(super) struct Client {
    http: reqwest::Client,
    /// `http://host:port` or `https://host:port`, one per member.
    members: Vec<String>,
    /// The member tried first: the last one that answered, so that a healthy cluster
    /// is served by one member and a dead member costs one failed connect.
    first: usize,
    timeout: Duration,
    credentials: Option<Credentials>,
}

impl Client {
    /// A client for the cluster `url` names. Reads the TLS files and the password now,
    /// so that a missing file is reported when the storage opens; connects lazily.
    pub(super) fn new(url: &EtcdUrl) -> Result<Self, StorageError> {
        let tls = url.tls.as_ref().map(tls::Settings::read).transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let count = u32::try_from(url.endpoints.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let builder = reqwest::Client::builder()
            // The members are the ones the URL names: an `HTTPS_PROXY` meant for other
            // traffic must not quietly route checkpoints elsewhere.
            .no_proxy()
            // etcd never redirects; a redirect must not move a write elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            // HTTP/1.1, as on plain text, where the gateway serves nothing else: over
            // HTTP/2 a connection that a member ends for want of a client certificate
            // surfaces as a cancelled request, without TLS's reason.
            .http1_only()
            // A connect that fails is known not to have sent anything, so the call
            // moves on to the next member even with a write. Inside a member's share
            // of a first pass over the cluster, so that a member whose host is gone
            // costs the connect timeout, not the call's deadline; a request that times
            // out once connected may have been applied.
            .connect_timeout(url.timeout.mul_f32(0.9) / count);
        let builder = match tls {
            Some(tls) => tls.apply(builder),
            None => builder,
        };
        let http = builder.build().map_err(|e| {
            StorageError::Io(Cause::with_source(
                "could not set up the etcd client",
                Chain(e),
            ))
        })?;
        Ok(Self {
            http,
            members: url
                .endpoints
                .iter()
                .map(|e| format!("{scheme}://{e}"))
                .collect(),
            first: 0,
            timeout: url.timeout,
            credentials: Credentials::for_url(url)?,
        })
    }

    /// POSTs `body` to `/v3/{method}` on the first member that answers, within the
    /// URL's timeout, and decodes the answer.
    pub(super) async fn call<T: for<'de> Deserialize<'de>>(
        &mut self,
        method: &str,
        body: &Value,
        replay: Replay,
    ) -> Result<T, StorageError> {
        let_the_connections_catch_up().await;
        let deadline = Instant::now() + self.timeout;
        let count = self.members.len();
        // What each member last failed with, for the error if none answers.
        let mut failures: Vec<Option<String>> = vec![None; count];
        let mut pause = Duration::from_millis(25);
        'passes: loop {
            let pass_started = Instant::now();
            for k in 0..count {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break 'passes;
                }
                // A silent member (stopped, or cut off) may take only its share of
                // what is left, so that the others are still asked in time.
                let share = remaining / u32::try_from(count - k).unwrap_or(u32::MAX);
                let member = (self.first + k) % count;
                match self.attempt(member, method, body, share).await {
                    Ok(text) => {
                        self.first = member;
                        return self.decode(member, method, &text);
                    }
                    Err(Failure::Final(error)) => return Err(error),
                    Err(Failure::MaybeApplied(error)) if replay == Replay::IfUnapplied => {
                        self.first = (member + 1) % count;
                        return Err(may_have_been_applied(error));
                    }
                    Err(
                        Failure::MaybeApplied(error)
                        | Failure::Unapplied(error)
                        | Failure::TokenRejected(error),
                    ) => failures[member] = Some(error.text()),
                }
            }
            // Every member failed: down, or electing a leader. Ask again while the
            // deadline allows, pausing a little if they failed fast.
            let elapsed = pass_started.elapsed();
            let remaining = deadline.saturating_duration_since(Instant::now());
            if elapsed < pause {
                tokio::time::sleep((pause - elapsed).min(remaining)).await;
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
        Err(self.none_answered(&failures))
    }

    /// One try on one member, authenticating first if a token is needed, and once
    /// more if etcd says the token is no longer valid.
    async fn attempt(
        &mut self,
        member: usize,
        method: &str,
        body: &Value,
        limit: Duration,
    ) -> Result<String, Failure> {
        let deadline = Instant::now() + limit;
        let mut renewed = false;
        loop {
            let token = match &self.credentials {
                Some(credentials) => Some(match credentials.token() {
                    Some(token) => token,
                    None => self.authenticate(member, deadline).await?,
                }),
                None => None,
            };
            match self
                .post(member, method, body, token.as_deref(), deadline)
                .await
            {
                // Tokens expire, and die with a restarted member: get a new one.
                Err(Failure::TokenRejected(_)) if !renewed => {
                    renewed = true;
                    if let Some(credentials) = &mut self.credentials {
                        credentials.forget_token();
                    }
                }
                other => return other,
            }
        }
    }

    /// Gets a token for the credentials from `member` and keeps it for later calls.
    async fn authenticate(&mut self, member: usize, deadline: Instant) -> Result<String, Failure> {
        let Some(credentials) = &self.credentials else {
            unreachable!("authenticate is called only with credentials")
        };
        let request = credentials.request();
        let text = self
            .post(member, "auth/authenticate", &request, None, deadline)
            .await
            .map_err(|failure| super::auth::explain(failure, credentials.user()))?;
        let token = super::auth::token_from(&text).map_err(Failure::Final)?;
        if let Some(credentials) = &mut self.credentials {
            credentials.keep_token(token.clone());
        }
        Ok(token)
    }

    /// One HTTP request to one member, within what is left of `deadline`; its answer's
    /// body, or why there is none.
    async fn post(
        &self,
        member: usize,
        method: &str,
        body: &Value,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<String, Failure> {
        let address = &self.members[member];
        let limit = deadline.saturating_duration_since(Instant::now());
        if limit.is_zero() {
            return Err(Failure::Unapplied(StorageError::Unavailable(Cause::new(
                format!("etcd at {address}: no time left to ask it"),
            ))));
        }
        let mut request = self
            .http
            .post(format!("{address}/v3/{method}"))
            // Until the whole answer is in: a member that stops answering halfway
            // costs no more than its share.
            .timeout(limit)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token);
        }
        let failed = |e: reqwest::Error| transport_error(address, e);
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let text = response.text().await.map_err(failed)?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(answer_error(address, status.as_u16(), &text))
        }
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        member: usize,
        method: &str,
        text: &str,
    ) -> Result<T, StorageError> {
        serde_json::from_str(text).map_err(|e| {
            StorageError::Io(Cause::new(format!(
                "etcd at {} answered {method} with an unexpected body ({e}): {text}",
                self.members[member]
            )))
        })
    }

    /// The error when no member answered within the deadline: each member's last
    /// failure, so that a wrong port and a stopped member are told apart.
    fn none_answered(&self, failures: &[Option<String>]) -> StorageError {
        if let [Some(only)] = failures {
            return StorageError::Unavailable(Cause::new(only.clone()));
        }
        let each: Vec<String> = self
            .members
            .iter()
            .zip(failures)
            .map(|(member, failure)| match failure {
                Some(why) => why.clone(),
                None => format!("etcd at {member}: not reached in time"),
            })
            .collect();
        StorageError::Unavailable(Cause::new(format!(
            "no member of the etcd cluster answered within {:?}: {}",
            self.timeout,
            each.join("; ")
        )))
    }
}

/// Lets tokio poll its I/O driver before a call takes a pooled connection, so that what
/// the network said while this task did not run (a member that closed its end when it
/// was killed or restarted) is known: a connection's task that finds its end closed
/// before it writes the request hands it back, and hyper sends it on a new connection.
/// Without this, where nothing ran meanwhile (a current-thread runtime between two
/// calls), a write would go into the dead connection and be reported as perhaps
/// applied.
async fn let_the_connections_catch_up() {
    tokio::task::yield_now().await;
}

/// A write's failure once it may have reached etcd: `Unavailable`, saying that the
/// stored value is unknown until read.
fn may_have_been_applied(error: StorageError) -> StorageError {
    let why = format!(
        "{}; the write may or may not have been applied",
        error.text()
    );
    match error {
        StorageError::Unavailable(_) => StorageError::Unavailable(Cause::new(why)),
        other => other,
    }
}
