//! The administrator's access key on first start: `<state-dir>/credentials`, in the AWS
//! shared-credentials format (profile `default`), so `AWS_SHARED_CREDENTIALS_FILE` can point
//! at it as it is. Made once, mode 0600, and read back on every later start.

use std::fs;
use std::path::{Path, PathBuf};

use gantry_server::AccessKeyPair;
use rand::TryRngCore;

/// The file's name under the state dir.
pub const FILE_NAME: &str = "credentials";

/// Where the administrator key came from, for the ready line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--admin-access-key-id` / `--admin-secret-access-key` (or their environment).
    Flags,
    /// Read from this file, which an earlier start wrote.
    File(PathBuf),
    /// Made now and written to this file.
    Created(PathBuf),
}

impl KeySource {
    /// The credentials file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Flags => None,
            Self::File(p) | Self::Created(p) => Some(p),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("--admin-access-key-id and --admin-secret-access-key go together: pass both (or set GANTRY_ADMIN_ACCESS_KEY_ID and GANTRY_ADMIN_SECRET_ACCESS_KEY), or neither to use {0}")]
    HalfAKey(String),
    #[error("--admin-access-key-id {0:?} must be 16 to 128 letters and digits")]
    BadKeyId(String),
    #[error("--admin-secret-access-key must be 16 to 128 printable characters without spaces")]
    BadSecret,
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no {what} in its [default] profile; fix the file, or remove it to make a new administrator key")]
    Incomplete { path: PathBuf, what: &'static str },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// The administrator key: the one the flags give (both or neither), else the one in
/// `<state_dir>/credentials`, else a new one written there.
pub fn admin_key(
    state_dir: &Path,
    key_id: Option<&str>,
    secret: Option<&str>,
) -> Result<(AccessKeyPair, KeySource), CredentialsError> {
    let path = state_dir.join(FILE_NAME);
    match (key_id, secret) {
        (Some(id), Some(secret)) => {
            let key = checked(id, secret)?;
            Ok((key, KeySource::Flags))
        }
        (None, None) => {
            if path.exists() {
                return Ok((read(&path)?, KeySource::File(path)));
            }
            let key = generate()?;
            write(&path, &key)?;
            Ok((key, KeySource::Created(path)))
        }
        _ => Err(CredentialsError::HalfAKey(path.display().to_string())),
    }
}

fn checked(id: &str, secret: &str) -> Result<AccessKeyPair, CredentialsError> {
    // IAM's own bounds for AccessKeyId are 16..128 word characters.
    if !(16..=128).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CredentialsError::BadKeyId(id.to_string()));
    }
    if !(16..=128).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CredentialsError::BadSecret);
    }
    Ok(AccessKeyPair {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
    })
}

/// A key shaped like AWS's: `AKIA` and 16 characters of base32's alphabet, and a 40-character
/// secret of base64's, both from the operating system's CSPRNG.
pub fn generate() -> Result<AccessKeyPair, CredentialsError> {
    const ID_CHARS: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_CHARS: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = [0u8; 56];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| CredentialsError::Random(e.to_string()))?;
    let (id_bytes, secret_bytes) = bytes.split_at(16);
    // 32 and 64 divide 256, so masking keeps every character equally likely.
    let id: String = id_bytes
        .iter()
        .map(|b| char::from(ID_CHARS[usize::from(b & 31)]))
        .collect();
    let secret: String = secret_bytes
        .iter()
        .map(|b| char::from(SECRET_CHARS[usize::from(b & 63)]))
        .collect();
    Ok(AccessKeyPair {
        access_key_id: format!("AKIA{id}"),
        secret_access_key: secret,
    })
}

/// The shared-credentials text for `key`.
pub fn render(key: &AccessKeyPair) -> String {
    format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.access_key_id, key.secret_access_key
    )
}

/// Reads the `[default]` profile of a shared-credentials file.
pub fn read(path: &Path) -> Result<AccessKeyPair, CredentialsError> {
    let text = fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (id, secret) = parse_default(&text);
    let incomplete = |what| CredentialsError::Incomplete {
        path: path.to_path_buf(),
        what,
    };
    Ok(AccessKeyPair {
        access_key_id: id.ok_or_else(|| incomplete("aws_access_key_id"))?,
        secret_access_key: secret.ok_or_else(|| incomplete("aws_secret_access_key"))?,
    })
}

/// The access key id and secret of the `[default]` profile, as botocore reads them
/// (`#`/`;` comments, `key = value`, whitespace around either side).
pub fn parse_default(text: &str) -> (Option<String>, Option<String>) {
    let mut in_default = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_default = section.trim() == "default";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" if !v.is_empty() => id = Some(v),
                "aws_secret_access_key" if !v.is_empty() => secret = Some(v),
                _ => {}
            }
        }
    }
    (id, secret)
}

/// Writes the file so that it is never seen half written or readable by others: a 0600
/// temporary file beside it, synced, then renamed over, then the directory synced.
pub fn write(path: &Path, key: &AccessKeyPair) -> Result<(), CredentialsError> {
    write_private(path, render(key).as_bytes()).map_err(|source| CredentialsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    gantry_server::atomic_file::write(path, data, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gantry-cred-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn generated_keys_look_like_aws_keys() {
        let k = generate().unwrap();
        assert_eq!(k.access_key_id.len(), 20);
        assert!(k.access_key_id.starts_with("AKIA"));
        assert!(k.access_key_id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(k.secret_access_key.len(), 40);
        assert!(k
            .secret_access_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
        assert_ne!(generate().unwrap(), k);
    }

    #[test]
    fn first_start_writes_0600_and_second_start_reads_it_back() {
        let dir = temp_dir("first");
        let (key, src) = admin_key(&dir, None, None).unwrap();
        let path = dir.join(FILE_NAME);
        assert_eq!(src, KeySource::Created(path.clone()));
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                key.access_key_id, key.secret_access_key
            )
        );
        let (again, src) = admin_key(&dir, None, None).unwrap();
        assert_eq!(again, key);
        assert_eq!(src, KeySource::File(path));
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_win_and_write_nothing() {
        let dir = temp_dir("flags");
        let (key, src) = admin_key(
            &dir,
            Some("AKIAIOSFODNN7EXAMPLE"),
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        )
        .unwrap();
        assert_eq!(src, KeySource::Flags);
        assert_eq!(key.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert!(!dir.join(FILE_NAME).exists());
        let half = admin_key(&dir, Some("AKIAIOSFODNN7EXAMPLE"), None).unwrap_err();
        assert!(half.to_string().contains("go together"), "{half}");
        let half = admin_key(&dir, None, Some("x")).unwrap_err();
        assert!(half.to_string().contains("--admin-access-key-id"), "{half}");
        assert!(admin_key(&dir, Some("short"), Some("wJalrXUtnFEMI/K7MDENG")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_what_botocore_parses() {
        let text = "# made by hand\n[other]\naws_access_key_id = NOPE\n\n[ default ]\n  aws_access_key_id=AKIAONE\n; note\naws_secret_access_key =  s3cr/t+  \n";
        let (id, secret) = parse_default(text);
        assert_eq!(id.as_deref(), Some("AKIAONE"));
        assert_eq!(secret.as_deref(), Some("s3cr/t+"));
        assert_eq!(
            parse_default("[other]\naws_access_key_id = X\n"),
            (None, None)
        );
    }

    #[test]
    fn an_incomplete_file_is_an_error_naming_it() {
        let dir = temp_dir("incomplete");
        let path = dir.join(FILE_NAME);
        fs::write(&path, "[default]\naws_access_key_id = AKIAX\n").unwrap();
        let e = admin_key(&dir, None, None).unwrap_err().to_string();
        assert!(
            e.contains("aws_secret_access_key") && e.contains(&path.display().to_string()),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
