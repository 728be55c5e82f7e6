//! What a `valueFrom` (or a `credentialsParameter`) names, read as the ECS agent reads it:
//! a Secrets Manager ARN — alone, or followed by `:json-key:version-stage:version-id`, any
//! of them empty (CloudFormation's dynamic-reference form) — or else an SSM parameter, by
//! name or ARN.

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    SecretsManager {
        /// The secret's ARN, without the trailing fields.
        secret: String,
        json_key: Option<String>,
        version_stage: Option<String>,
        version_id: Option<String>,
    },
    /// A parameter name or ARN, as GetParameters takes it.
    Ssm(String),
}

/// The fields of a secret's ARN (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`).
const ARN_FIELDS: usize = 7;
/// With `json-key:version-stage:version-id`.
const ARN_FIELDS_WITH_KEY: usize = 10;

/// Reads `value_from`; the error is the ECS agent's reason for a malformed one.
pub fn parse(value_from: &str) -> Result<Source, String> {
    let fields: Vec<&str> = value_from.split(':').collect();
    let is_asm = value_from.starts_with("arn:") && fields.get(2) == Some(&"secretsmanager");
    if !is_asm {
        return Ok(Source::Ssm(value_from.to_string()));
    }
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match fields.len() {
        ARN_FIELDS if fields[5] == "secret" && !fields[6].is_empty() => {
            Ok(Source::SecretsManager {
                secret: value_from.to_string(),
                json_key: None,
                version_stage: None,
                version_id: None,
            })
        }
        ARN_FIELDS_WITH_KEY if fields[5] == "secret" && !fields[6].is_empty() => {
            Ok(Source::SecretsManager {
                secret: fields[..ARN_FIELDS].join(":"),
                json_key: some(fields[7]),
                version_stage: some(fields[8]),
                version_id: some(fields[9]),
            })
        }
        _ => Err(format!(
            "invalid secret ARN {value_from}: use arn:aws:secretsmanager:<region>:<account>:secret:<name>, optionally followed by :<json-key>:<version-stage>:<version-id>"
        )),
    }
}

/// The value of `key` in the JSON object `secret`: a string as it is, anything else as
/// its JSON text. The error never quotes the secret.
pub fn json_field(secret: &str, key: &str) -> Result<String, String> {
    let missing =
        || format!("retrieved secret from Secrets Manager did not contain json key {key}");
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(secret).map_err(|_| missing())?;
    match obj.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(v) => Ok(v.to_string()),
        None => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";

    #[test]
    fn reads_every_form() {
        assert_eq!(
            parse(ARN).unwrap(),
            Source::SecretsManager {
                secret: ARN.into(),
                json_key: None,
                version_stage: None,
                version_id: None
            }
        );
        assert_eq!(
            parse(&format!("{ARN}:password::")).unwrap(),
            Source::SecretsManager {
                secret: ARN.into(),
                json_key: Some("password".into()),
                version_stage: None,
                version_id: None
            }
        );
        assert_eq!(
            parse(&format!("{ARN}::AWSPREVIOUS:")).unwrap(),
            Source::SecretsManager {
                secret: ARN.into(),
                json_key: None,
                version_stage: Some("AWSPREVIOUS".into()),
                version_id: None
            }
        );
        assert_eq!(parse("/app/db").unwrap(), Source::Ssm("/app/db".into()));
        let p = "arn:aws:ssm:us-east-1:123456789012:parameter/app/db";
        assert_eq!(parse(p).unwrap(), Source::Ssm(p.into()));
        assert!(parse(&format!("{ARN}:password")).is_err());
        assert!(parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:").is_err());
    }

    #[test]
    fn json_keys() {
        assert_eq!(json_field(r#"{"a":"x","n":5}"#, "a").unwrap(), "x");
        assert_eq!(json_field(r#"{"a":"x","n":5}"#, "n").unwrap(), "5");
        let e = json_field(r#"{"a":"canary"}"#, "b").unwrap_err();
        assert!(!e.contains("canary"));
        assert!(json_field("canary", "b")
            .unwrap_err()
            .contains("json key b"));
    }
}
