//! The `object_store` client for an [`ObjectUrl`]: its cloud's builder as `from_env`
//! makes it (credentials, and where they come from, are `object_store`'s business),
//! then the URL's endpoint, region, account, timeout and retries, then the caller's
//! settings.

use std::sync::Arc;

use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::url::{Cloud, ObjectUrl};
use crate::{Cause, StorageError};

/// A client for `url`'s bucket: the URL's options, then `settings` (`object_store`
/// keys too), over what the environment gives.
pub(super) fn connect(
    url: &ObjectUrl,
    settings: &[(&str, &str)],
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let options = url
        .options
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let options: Vec<_> = options.chain(settings.iter().copied()).collect();
    let client = ClientOptions::new()
        .with_timeout(url.timeout)
        .with_connect_timeout(url.timeout)
        // An `http://` endpoint is one the operator chose: an emulator, a local store.
        .with_allow_http(
            options
                .iter()
                .any(|(_, value)| value.starts_with("http://")),
        )
        .with_default_content_type("text/plain; charset=utf-8")
        .with_content_type_for_suffix("json", "application/json");
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: url.retries,
        retry_timeout: url.timeout * (url.retries as u32 + 1),
    };
    let failed = |e| {
        StorageError::Io(Cause::with_source(
            format!("configuring a client for {}", url.display_key("")),
            e,
        ))
    };
    // The same calls on each cloud's own builder (they share no trait); the URL's
    // bucket is set last, so that no option names another.
    macro_rules! build {
        ($builder:expr, $with_bucket:ident) => {{
            let mut builder = $builder.with_client_options(client).with_retry(retry);
            for (name, value) in options {
                let name = if (url.cloud, name) == (Cloud::Gcs, "endpoint") {
                    "base_url"
                } else {
                    name
                };
                builder = builder.with_config(name.parse().map_err(failed)?, value);
            }
            Arc::new(builder.$with_bucket(&url.bucket).build().map_err(failed)?)
        }};
    }
    Ok(match url.cloud {
        #[cfg(feature = "s3")]
        Cloud::S3 => build!(
            object_store::aws::AmazonS3Builder::from_env(),
            with_bucket_name
        ),
        #[cfg(feature = "gcs")]
        Cloud::Gcs => build!(
            object_store::gcp::GoogleCloudStorageBuilder::from_env(),
            with_bucket_name
        ),
        #[cfg(feature = "azure")]
        Cloud::Azure => build!(
            object_store::azure::MicrosoftAzureBuilder::from_env(),
            with_container_name
        ),
        #[allow(unreachable_patterns)]
        cloud => {
            let why = format!(
                "this build has no {}:// support (a cargo feature)",
                cloud.scheme()
            );
            return Err(StorageError::Io(Cause::new(why)));
        }
    })
}
