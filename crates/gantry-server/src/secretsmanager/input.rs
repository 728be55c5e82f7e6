//! Request decoding and the member constraints of the `secretsmanager` model. Violations
//! come back in one `ValidationException` naming the members, "N validation error(s)
//! detected: Value at 'member' failed to satisfy constraint: …"; unlike other services the
//! value itself is never quoted, since it may be a secret.

use base64::Engine;
use gantry_api::{ApiError, ErrorKind};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::envelope::Plain;
use super::error::invalid_parameter;
use crate::error::{Error, Result};

/// Decodes a request body; a member of the wrong type is a `SerializationException` (whose
/// text names the shape, not the value).
pub fn decode<T: DeserializeOwned>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| {
        let what = if e.is_data() {
            "a member has the wrong type"
        } else {
            "it is not a JSON object"
        };
        Error::Api(ApiError::new(
            ErrorKind::Serialization,
            format!("The request body does not match the operation's input shape: {what}."),
        ))
    })
}

/// `{Key, Value}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

fn camel(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The constraint violations found so far.
#[derive(Debug, Default)]
pub struct Checks(Vec<String>);

impl Checks {
    fn fail(&mut self, member: &str, constraint: &str) {
        self.0.push(format!(
            "Value at '{}' failed to satisfy constraint: {constraint}",
            camel(member)
        ));
    }

    pub fn required<T>(&mut self, member: &str, v: Option<&T>) {
        if v.is_none() {
            self.fail(member, "Member must not be null");
        }
    }

    pub fn length(&mut self, member: &str, v: Option<&str>, min: usize, max: usize) {
        let Some(s) = v else { return };
        let n = s.chars().count();
        if n < min {
            self.fail(
                member,
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.fail(
                member,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn range(&mut self, member: &str, v: Option<i64>, min: i64, max: i64) {
        let Some(n) = v else { return };
        if n < min {
            self.fail(
                member,
                &format!("Member must have value greater than or equal to {min}"),
            );
        } else if n > max {
            self.fail(
                member,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    pub fn secret_id(&mut self, v: Option<&String>) {
        self.required("SecretId", v);
        self.length("SecretId", v.map(String::as_str), 1, 2048);
    }

    pub fn token(&mut self, v: Option<&String>) {
        self.length("ClientRequestToken", v.map(String::as_str), 32, 64);
    }

    pub fn version_id(&mut self, member: &str, v: Option<&String>) {
        self.length(member, v.map(String::as_str), 32, 64);
    }

    pub fn tags(&mut self, tags: &[Tag]) {
        for (i, t) in tags.iter().enumerate() {
            let m = format!("Tags.{}.member", i + 1);
            self.length(&format!("{m}.key"), t.key.as_deref(), 1, 128);
            self.length(&format!("{m}.value"), t.value.as_deref(), 0, 256);
        }
    }

    pub fn done(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let n = self.0.len();
        let s = if n == 1 { "" } else { "s" };
        Err(Error::Api(ApiError::new(
            ErrorKind::Validation,
            format!("{n} validation error{s} detected: {}", self.0.join("; ")),
        )))
    }
}

/// A secret's name: ASCII letters, digits and `/_+=.@-`, 1 to 512 characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(ok) {
        return Err(invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    Ok(())
}

/// The value of a request from its SecretString and SecretBinary (base64 on the wire); at
/// most one may be given.
pub fn value(string: Option<String>, binary: Option<String>) -> Result<Option<Plain>> {
    let mut c = Checks::default();
    if let Some(s) = &string {
        c.length("SecretString", Some(s), 1, 65536);
    }
    c.done()?;
    match (string, binary) {
        (Some(_), Some(_)) => Err(invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(s), None) => Ok(Some(Plain::String(s))),
        (None, Some(b)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|_| {
                    Error::Api(ApiError::new(
                        ErrorKind::Serialization,
                        "SecretBinary is not valid base64.",
                    ))
                })?;
            if bytes.is_empty() || bytes.len() > 65536 {
                let mut c = Checks::default();
                c.fail("SecretBinary", "Member must have length between 1 and 65536");
                c.done()?;
            }
            Ok(Some(Plain::Binary(bytes)))
        }
        (None, None) => Ok(None),
    }
}

/// KmsKeyId names a KMS key; Gantry has no KMS.
pub fn refuse_kms(kms: Option<&String>) -> Result<()> {
    if kms.is_some() {
        return Err(invalid_parameter(
            "Gantry does not support KmsKeyId: it has no KMS. Omit KmsKeyId; every secret value is encrypted with a data key of its own under the server's master key.",
        ));
    }
    Ok(())
}

/// A member of the model Gantry does not honour.
pub fn refuse(member: &str, given: bool, why: &str) -> Result<()> {
    if given {
        return Err(invalid_parameter(format!(
            "Gantry does not support {member}: {why}"
        )));
    }
    Ok(())
}
