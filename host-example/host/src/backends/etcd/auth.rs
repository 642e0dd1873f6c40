//! etcd authentication: a user from the URL, a password from the environment or a
//! file (never from the URL, never in a message), and the token etcd trades for them.

use std::fmt;

use serde::Deserialize;
use serde_json::{Value, json};

use super::answer::Failure;
use super::url::{EtcdUrl, PASSWORD_ENV};
use crate::{Cause, StorageError};

/// A user, its password, and the token etcd last gave for them.
#[derive(Clone)]
pub(super) struct Credentials {
    user: String,
    password: String,
    token: Option<String>,
}

/// Never the password or the token.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The credentials `url` names: none without a user; with one, its password from
    /// `password_file`, else from [`PASSWORD_ENV`].
    pub(super) fn for_url(url: &EtcdUrl) -> Result<Option<Self>, StorageError> {
        let Some(user) = &url.user else {
            return Ok(None);
        };
        let password = match &url.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| StorageError::io("read the etcd password from", path, e))?;
                // A file written by `echo` ends with a newline that is no part of it.
                text.strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_owned()
            }
            None => std::env::var(PASSWORD_ENV).map_err(|_| {
                StorageError::AccessDenied(Cause::new(format!(
                    "etcd user {user:?} needs a password: set {PASSWORD_ENV}, or add \
                     password_file=PATH to the URL"
                )))
            })?,
        };
        Ok(Some(Self {
            user: user.clone(),
            password,
            token: None,
        }))
    }

    pub(super) fn user(&self) -> &str {
        &self.user
    }

    pub(super) fn token(&self) -> Option<String> {
        self.token.clone()
    }

    pub(super) fn keep_token(&mut self, token: String) {
        self.token = Some(token);
    }

    pub(super) fn forget_token(&mut self) {
        self.token = None;
    }

    /// The body of `POST /v3/auth/authenticate`.
    pub(super) fn request(&self) -> Value {
        json!({ "name": self.user, "password": self.password })
    }
}

/// An authentication failure in the user's terms. etcd's own words carry neither the
/// password nor the token, so they are kept.
pub(super) fn explain(failure: Failure, user: &str) -> Failure {
    let Failure::Final(error) = failure else {
        return failure;
    };
    let text = error.to_string();
    if text.contains("authentication failed") {
        Failure::Final(StorageError::AccessDenied(Cause::new(format!(
            "etcd refused user {user:?}: wrong password, or no such user ({text})"
        ))))
    } else if text.contains("authentication is not enabled") {
        Failure::Final(StorageError::AccessDenied(Cause::new(format!(
            "the URL names etcd user {user:?}, but the cluster has authentication \
             disabled: is this the cluster you meant? ({text})"
        ))))
    } else {
        Failure::Final(error)
    }
}

/// The token in an authenticate answer.
pub(super) fn token_from(text: &str) -> Result<String, StorageError> {
    #[derive(Deserialize)]
    struct Authenticated {
        token: String,
    }
    serde_json::from_str::<Authenticated>(text)
        .map(|a| a.token)
        .ok()
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            StorageError::Io(Cause::new(
                "etcd answered authenticate without a token".to_owned(),
            ))
        })
}
