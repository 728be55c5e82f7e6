//! The credential chain of the `gantry` CLI: the same places, in the same order, as the AWS
//! CLI looks, so `gantry task ls` runs as whoever `aws ecs list-tasks` runs as.
//!
//! Credentials:
//! 1. `--profile NAME`: that profile of the shared files, and nothing else;
//! 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 3. the profile `$AWS_PROFILE` (else `default`): `[NAME]` in the credentials file
//!    (`$AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), then `[profile NAME]`
//!    (`[default]`) in the config file (`$AWS_CONFIG_FILE`, else `~/.aws/config`).
//!
//! Region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else
//! `us-east-1` (what `gantry server` and `gantry dev` serve by default). CA bundle:
//! `--ca-bundle`, `AWS_CA_BUNDLE`, the profile's `ca_bundle`.
//!
//! Only static keys are read: no SSO, no `credential_process`, no instance metadata — a
//! profile without keys is reported as such, not silently skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gantry_link::Credentials;

/// The region a client signs for when nothing names one: `gantry server`'s default.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What the command line says.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub ca_bundle: Option<PathBuf>,
}

/// Credentials and where they came from, the region and the CA bundle.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub creds: Credentials,
    /// For messages: `environment` or `profile NAME in FILE`.
    pub source: String,
    pub region: String,
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    #[error("no AWS credentials found: looked at {looked}. `gantry server` and `gantry dev` write the administrator's key to <state-dir>/credentials on first start: `export AWS_SHARED_CREDENTIALS_FILE=<state-dir>/credentials`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NotFound { looked: String },
    #[error("the profile {profile:?} is in neither {credentials} nor {config}")]
    NoProfile {
        profile: String,
        credentials: String,
        config: String,
    },
    #[error(
        "the profile {profile:?} ({file}) has no {missing}; only static access keys are supported"
    )]
    Incomplete {
        profile: String,
        file: String,
        missing: &'static str,
    },
    #[error("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not (or the other way round)")]
    HalfEnv,
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// Resolves credentials, region and CA bundle from `flags`, the environment (`env`) and the
/// shared files.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, CredsError> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let home = var("HOME").map(PathBuf::from).unwrap_or_default();
    let credentials_file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config_file = var("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let profile_name = flags
        .profile
        .clone()
        .or_else(|| var("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_string());
    let files = Files::read(&credentials_file, &config_file, &profile_name)?;

    let env_key = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"));
    let (creds, source) = match env_key {
        (Some(id), Some(secret)) if flags.profile.is_none() => (
            Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: var("AWS_SESSION_TOKEN"),
            },
            "the environment".to_string(),
        ),
        (Some(_), None) | (None, Some(_)) if flags.profile.is_none() => {
            return Err(CredsError::HalfEnv)
        }
        _ => files.credentials(
            &profile_name,
            flags.profile.is_some(),
            &credentials_file,
            &config_file,
        )?,
    };
    let region = flags
        .region
        .clone()
        .or_else(|| var("AWS_REGION"))
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| files.get("region"))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let ca_bundle = flags
        .ca_bundle
        .clone()
        .or_else(|| var("AWS_CA_BUNDLE").map(PathBuf::from))
        .or_else(|| files.get("ca_bundle").map(PathBuf::from));
    Ok(Resolved {
        creds,
        source,
        region,
        ca_bundle,
    })
}

/// The chosen profile's keys in the credentials file and in the config file.
struct Files {
    /// `None`: the file has no such section.
    credentials: Option<HashMap<String, String>>,
    config: Option<HashMap<String, String>>,
}

impl Files {
    fn read(credentials: &Path, config: &Path, profile: &str) -> Result<Self, CredsError> {
        let config_section = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        Ok(Self {
            credentials: read_ini(credentials)?.and_then(|mut s| s.remove(profile)),
            config: read_ini(config)?.and_then(|mut s| s.remove(&config_section)),
        })
    }

    /// A setting of the profile, the credentials file first.
    fn get(&self, key: &str) -> Option<String> {
        [&self.credentials, &self.config]
            .into_iter()
            .flatten()
            .find_map(|s| s.get(key).filter(|v| !v.is_empty()).cloned())
    }

    fn credentials(
        &self,
        profile: &str,
        named: bool,
        credentials_file: &Path,
        config_file: &Path,
    ) -> Result<(Credentials, String), CredsError> {
        let file = match (&self.credentials, &self.config) {
            (Some(s), _) if s.contains_key("aws_access_key_id") => credentials_file,
            (_, Some(s)) if s.contains_key("aws_access_key_id") => config_file,
            (Some(_), _) => credentials_file,
            (None, Some(_)) => config_file,
            (None, None) if named || profile != "default" => {
                return Err(CredsError::NoProfile {
                    profile: profile.to_string(),
                    credentials: credentials_file.display().to_string(),
                    config: config_file.display().to_string(),
                })
            }
            (None, None) => {
                return Err(CredsError::NotFound {
                    looked: format!(
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile \"default\" in {} and {}",
                    credentials_file.display(),
                    config_file.display()
                ),
                })
            }
        };
        let incomplete = |missing| CredsError::Incomplete {
            profile: profile.to_string(),
            file: file.display().to_string(),
            missing,
        };
        let id = self
            .get("aws_access_key_id")
            .ok_or_else(|| incomplete("aws_access_key_id"))?;
        let secret = self
            .get("aws_secret_access_key")
            .ok_or_else(|| incomplete("aws_secret_access_key"))?;
        let token = self
            .get("aws_session_token")
            .or_else(|| self.get("aws_security_token"));
        Ok((
            Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: token,
            },
            format!("the profile {profile:?} in {}", file.display()),
        ))
    }
}

type Sections = HashMap<String, HashMap<String, String>>;

/// Reads an AWS-style INI file; `None` when it does not exist.
fn read_ini(path: &Path) -> Result<Option<Sections>, CredsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse_ini(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredsError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// `[section]` headers and `key = value` lines; `#`/`;` comments; indented lines (the
/// nested settings of a key like `s3 =`) are skipped, as they name no credentials.
fn parse_ini(text: &str) -> Sections {
    let mut out = Sections::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // `[profile  x]` and `[ x ]` name the same section.
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
#[path = "creds_tests.rs"]
mod tests;
