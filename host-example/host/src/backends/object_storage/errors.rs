//! `object_store`'s errors as [`StorageError`] cases, each keeping the error as its
//! source. Conflicts and missing objects are the caller's to read, by operation.

use object_store::Error;
use object_store::client::HttpError;

use crate::{Cause, StorageError};

/// What the clouds say when the bucket itself is missing (S3 and GCS's XML API, and
/// Azure): a missing object is a fact about the key, a missing bucket an error.
const MISSING_BUCKET: [&str; 2] = ["NoSuchBucket", "ContainerNotFound"];

/// Whether `error` says that the bucket or container is missing.
pub(super) fn bucket_missing(error: &Error) -> bool {
    let text = error.to_string();
    MISSING_BUCKET.iter().any(|code| text.contains(code))
}

/// The storage error for `error`, which `what` (`GET of s3://…`) failed with: refused
/// credentials are `access-denied`; a request that did not reach the store or get an
/// answer in time, a 5xx, a 429 or a 408 (after `object_store`'s retries) are
/// `unavailable`; anything else `io`.
pub(super) fn storage_error(what: String, error: Error) -> StorageError {
    match &error {
        Error::PermissionDenied { .. } | Error::Unauthenticated { .. } => {
            StorageError::AccessDenied(Cause::with_source(what, error))
        }
        _ if unreachable(&error) => StorageError::Unavailable(Cause::with_source(what, error)),
        _ => StorageError::Io(Cause::with_source(what, error)),
    }
}

/// A transport failure anywhere in the chain, or a status that says "try later".
/// `object_store` keeps the status only in its retry error's text (the type is
/// private): "… non-2xx status code: 503 Service Unavailable: …".
fn unreachable(error: &Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.downcast_ref::<HttpError>().is_some() {
            return true;
        }
        source = error.source();
    }
    let text = error.to_string();
    let status = text
        .split_once("status code: ")
        .and_then(|(_, rest)| rest.get(..3)?.parse::<u16>().ok());
    status.is_some_and(|s| s >= 500 || s == 429 || s == 408)
}
