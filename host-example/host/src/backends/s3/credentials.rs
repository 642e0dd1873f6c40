//! Where an [`super::S3Storage`] finds its AWS credentials and region: the standard
//! environment variables, then the shared credentials and config files, as the AWS
//! CLI and SDKs read them. Never the command line, and a secret is never displayed.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Cause, StorageError};

/// An access key, its secret and an optional session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id; not secret, it names the key in logs on the AWS side.
    pub access_key_id: String,
    pub(super) secret_access_key: String,
    pub(super) session_token: Option<String>,
    /// Where they came from, for messages: `environment` or a file and profile.
    pub source: String,
}

/// Only the key id and the source: the secret and the token stay out of every log.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The process environment, as a lookup; tests pass their own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's own environment, empty values as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Credentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; else the
    /// profile `AWS_PROFILE` (or `default`) of the credentials file
    /// (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`), then of the config file
    /// (`AWS_CONFIG_FILE`, or `~/.aws/config`). None found is `access-denied`.
    pub fn resolve(env: Env<'_>) -> Result<Self, StorageError> {
        match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => {
                return Ok(Self {
                    access_key_id,
                    secret_access_key,
                    session_token: env("AWS_SESSION_TOKEN"),
                    source: "environment".into(),
                });
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(StorageError::AccessDenied(Cause::new(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together",
                )));
            }
            (None, None) => {}
        }
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        for (file, section) in [
            (credentials_file(env), profile.clone()),
            (config_file(env), config_section(&profile)),
        ] {
            let Some(file) = file else { continue };
            let Some(values) = read_profile(&file, &section)? else {
                continue;
            };
            if let (Some(id), Some(secret)) = (
                values.get("aws_access_key_id"),
                values.get("aws_secret_access_key"),
            ) {
                return Ok(Self {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    session_token: values.get("aws_session_token").cloned(),
                    source: format!("{} [{section}]", file.display()),
                });
            }
        }
        Err(StorageError::AccessDenied(Cause::new(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give \
             profile {profile:?} aws_access_key_id and aws_secret_access_key in ~/.aws/credentials"
        ))))
    }
}

/// The region to sign for where the URL names none: `AWS_REGION`, `AWS_DEFAULT_REGION`,
/// the profile's `region` in the config file, else `us-east-1`.
pub fn resolve_region(env: Env<'_>) -> String {
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return region;
    }
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    config_file(env)
        .and_then(|file| {
            read_profile(&file, &config_section(&profile))
                .ok()
                .flatten()
        })
        .and_then(|values| values.get("region").cloned())
        .unwrap_or_else(|| "us-east-1".into())
}

fn home(env: Env<'_>) -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

fn credentials_file(env: Env<'_>) -> Option<PathBuf> {
    env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| Some(home(env)?.join(".aws/credentials")))
}

fn config_file(env: Env<'_>) -> Option<PathBuf> {
    env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| Some(home(env)?.join(".aws/config")))
}

/// The config file names profiles `[profile NAME]`, except `[default]`.
fn config_section(profile: &str) -> String {
    if profile == "default" {
        profile.to_owned()
    } else {
        format!("profile {profile}")
    }
}

/// The `key = value` lines of `[section]` in an INI file; `None` if the file or the
/// section is missing. A file that exists but cannot be read is an error: quietly
/// skipping it would sign with other credentials than the operator meant.
fn read_profile(
    file: &Path,
    section: &str,
) -> Result<Option<HashMap<String, String>>, StorageError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read", file, e)),
    };
    let mut values = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if values.is_some() {
                break;
            }
            if name.trim() == section {
                values = Some(HashMap::new());
            }
        } else if let (Some(values), Some((key, value))) = (values.as_mut(), line.split_once('=')) {
            values.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// The environment wins over the files; the named profile is read from the
    /// credentials file, then the config file; a secret never shows in Debug.
    #[test]
    fn credentials_come_from_the_environment_then_the_profile_files() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s3cr3t-default\n\
             [ci]\naws_access_key_id=AKCI\naws_secret_access_key=s3cr3t-ci\naws_session_token=tok\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "[profile other]\nregion = eu-north-1\naws_access_key_id = AKOTHER\naws_secret_access_key = s3cr3t-other\n",
        )
        .unwrap();
        let files = [
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.display().to_string(),
            ),
            ("AWS_CONFIG_FILE", config.display().to_string()),
        ];
        let from_env = Credentials::resolve(&env_of(&[
            ("AWS_ACCESS_KEY_ID", "AKENV".into()),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-env".into()),
            files[0].clone(),
        ]))
        .unwrap();
        assert_eq!(
            (from_env.access_key_id.as_str(), from_env.source.as_str()),
            ("AKENV", "environment")
        );
        let default = Credentials::resolve(&env_of(&files)).unwrap();
        assert_eq!(default.access_key_id, "AKDEFAULT");
        let mut with_profile = files.to_vec();
        with_profile.push(("AWS_PROFILE", "ci".into()));
        let ci = Credentials::resolve(&env_of(&with_profile)).unwrap();
        assert_eq!(
            (ci.access_key_id.as_str(), ci.session_token.as_deref()),
            ("AKCI", Some("tok"))
        );
        with_profile.push(("AWS_PROFILE", "other".into()));
        let mut other_env = files.to_vec();
        other_env.push(("AWS_PROFILE", "other".into()));
        let other = Credentials::resolve(&env_of(&other_env)).unwrap();
        assert_eq!(other.access_key_id, "AKOTHER");
        assert_eq!(resolve_region(&env_of(&other_env)), "eu-north-1");
        assert_eq!(resolve_region(&env_of(&files)), "us-east-1");
        for creds in [&from_env, &default, &ci, &other] {
            let shown = format!("{creds:?}");
            assert!(
                !shown.contains("s3cr3t") && !shown.contains("tok"),
                "{shown}"
            );
        }
        let mut missing = files.to_vec();
        missing.push(("AWS_PROFILE", "nobody".into()));
        let err = Credentials::resolve(&env_of(&missing)).unwrap_err();
        assert_eq!(err.case(), "access-denied");
        let half =
            Credentials::resolve(&env_of(&[("AWS_ACCESS_KEY_ID", "AK".into())])).unwrap_err();
        assert!(half.to_string().contains("together"), "{half}");
    }
}
