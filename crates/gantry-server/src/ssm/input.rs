//! Request decoding and the member constraints of the `ssm` model, checked the way AWS's
//! front end checks them: every violation is listed in one `ValidationException`,
//! "N validation error(s) detected: Value 'x' at 'member' failed to satisfy constraint: …",
//! with the member's name in lower camel case.

use gantry_api::{ApiError, ErrorKind};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::validation;
use crate::error::{Error, Result};

/// Decodes a request body; a member of the wrong type is a `SerializationException`.
pub fn decode<T: DeserializeOwned>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| {
        Error::Api(ApiError::new(
            ErrorKind::Serialization,
            format!("The request body does not match the operation's input shape: {e}"),
        ))
    })
}

/// The constraint violations found so far.
#[derive(Debug, Default)]
pub struct Checks(Vec<String>);

fn camel(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Checks {
    fn fail(&mut self, value: Option<&str>, member: &str, constraint: &str) {
        let value = value.map_or_else(|| "null".to_string(), |v| format!("'{v}'"));
        self.0.push(format!(
            "Value {value} at '{}' failed to satisfy constraint: {constraint}",
            camel(member)
        ));
    }

    pub fn required<T>(&mut self, member: &str, v: Option<&T>) {
        if v.is_none() {
            self.fail(None, member, "Member must not be null");
        }
    }

    pub fn range(&mut self, member: &str, v: Option<i64>, min: i64, max: i64) {
        let Some(n) = v else { return };
        let s = n.to_string();
        if n < min {
            self.fail(
                Some(&s),
                member,
                &format!("Member must have value greater than or equal to {min}"),
            );
        } else if n > max {
            self.fail(
                Some(&s),
                member,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    pub fn length(&mut self, member: &str, v: Option<&str>, min: usize, max: usize) {
        let Some(s) = v else { return };
        let n = s.chars().count();
        if n < min {
            self.fail(
                Some(s),
                member,
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.fail(
                Some(s),
                member,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// The model's `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$` (names, tag keys and values).
    pub fn name_chars(&mut self, member: &str, v: Option<&str>) {
        let Some(s) = v else { return };
        let ok = s.chars().all(|c| {
            c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c) || c == '\u{a0}'
        });
        if !ok {
            self.fail(
                Some(s),
                member,
                r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
            );
        }
    }

    /// An enum member: one of `values` (SSM lists them in brackets, comma and space).
    pub fn one_of(&mut self, member: &str, v: Option<&str>, values: &[&str]) {
        let Some(s) = v else { return };
        if !values.contains(&s) {
            self.fail(
                Some(s),
                member,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ),
            );
        }
    }

    /// `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`.
    pub fn activation_id(&mut self, member: &str, v: Option<&str>) {
        let Some(s) = v else { return };
        if !is_activation_id(s) {
            self.fail(
                Some(s),
                member,
                "Member must satisfy regular expression pattern: ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            );
        }
    }

    /// `(^mi-[0-9a-f]{17}$)|…` (the EKS form is not Gantry's).
    pub fn managed_instance_id(&mut self, member: &str, v: Option<&str>) {
        let Some(s) = v else { return };
        self.length(member, Some(s), 20, 124);
        if s.chars().count() >= 20 && !is_managed_instance_id(s) {
            self.fail(
                Some(s),
                member,
                r"Member must satisfy regular expression pattern: (^mi-[0-9a-f]{17}$)|(^eks_c:[0-9A-Za-z][A-Za-z0-9\-_]{0,99}_\w{17}$)",
            );
        }
    }

    /// The `ValidationException` for what was found, if anything.
    pub fn done(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

pub fn is_activation_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

pub fn is_managed_instance_id(s: &str) -> bool {
    s.strip_prefix("mi-").is_some_and(|h| {
        h.len() == 17
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `Tags: [{Key, Value}]` as the model has them.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl Checks {
    /// A tag list: at most 1000, keys 1..128 and values 0..256 of the name characters.
    pub fn tags(&mut self, member: &str, tags: &[Tag]) {
        if tags.len() > 1000 {
            self.fail(
                Some(&format!("{} tags", tags.len())),
                member,
                "Member must have length less than or equal to 1000",
            );
        }
        for (i, t) in tags.iter().enumerate() {
            let k = format!("{member}.{}.member.key", i + 1);
            let v = format!("{member}.{}.member.value", i + 1);
            self.length(&k, Some(&t.key), 1, 128);
            self.name_chars(&k, Some(&t.key));
            self.length(&v, Some(&t.value), 0, 256);
            self.name_chars(&v, Some(&t.value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_read_like_aws() {
        let mut c = Checks::default();
        c.range("RegistrationLimit", Some(0), 1, 1000);
        let e = c.done().unwrap_err().to_api();
        assert_eq!(e.kind.name(), "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '0' at 'registrationLimit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        let mut c = Checks::default();
        c.required::<String>("IamRole", None);
        c.range("RegistrationLimit", Some(1001), 1, 1000);
        let e = c.done().unwrap_err().to_api();
        assert!(e.message.starts_with("2 validation errors detected: Value null at 'iamRole' failed to satisfy constraint: Member must not be null; Value '1001'"), "{}", e.message);
    }

    #[test]
    fn ids_follow_the_model_patterns() {
        assert!(is_activation_id("aa673477-d926-42c1-8757-1358ceeeeeee"));
        assert!(!is_activation_id("AA673477-d926-42c1-8757-1358ceeeeeee"));
        assert!(is_managed_instance_id("mi-0123456789abcdef0"));
        assert!(!is_managed_instance_id("i-0123456789abcdef0"));
    }
}
