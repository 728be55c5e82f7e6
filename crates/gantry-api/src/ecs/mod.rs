//! ECS wire types, generated from the official service model, and the validator that checks a
//! raw request against the model's constraints before it is turned into typed values.

pub mod model;
pub mod operations;
pub mod schema;
pub mod validate;

use serde_json::Value;

use crate::error::{ApiError, ErrorKind};

pub use operations::{Operation, OPERATIONS};

/// The operation with this name, if the model has it.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS
        .binary_search_by(|op| op.name.cmp(name))
        .ok()
        .map(|i| &OPERATIONS[i])
}

/// Parses the raw body of a call to `op` and validates it against the operation's input shape.
///
/// The result is the validated JSON value; the caller decodes it into the typed request
/// (`model::<Op>Request`). A body of only whitespace is `{}`, as the SDKs send no body for calls
/// without parameters. This is the boundary the fuzz target in `crates/gantry-api/fuzz` drives:
/// it must never panic, and a value it accepts must decode into the typed request.
pub fn parse_request(op: &str, body: &[u8]) -> Result<Value, ApiError> {
    let Some(operation) = operation(op) else {
        return Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!("{op} is not an operation of the ECS API; check the X-Amz-Target header."),
        ));
    };
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        // serde_json's message ends with "at line L column C", which is what a user needs to
        // find the mistake in a hand-written body.
        serde_json::from_slice(body).map_err(|e| {
            ApiError::client(format!(
                "The request body is not valid JSON ({e}); send a JSON object."
            ))
        })?
    };
    match operation.input {
        Some(shape) => validate::validate(shape, &value)?,
        None if !value.is_object() => {
            return Err(ApiError::client("The request body must be a JSON object."));
        }
        None => {}
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_operation_is_rejected() {
        let err = parse_request("LaunchRockets", b"{}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownOperation);
        assert!(err.message.contains("LaunchRockets"), "{}", err.message);
    }

    #[test]
    fn empty_or_blank_body_is_an_empty_object() {
        assert_eq!(parse_request("ListClusters", b"").unwrap(), json!({}));
        assert_eq!(
            parse_request("ListClusters", b" \r\n\t").unwrap(),
            json!({})
        );
    }

    #[test]
    fn empty_body_still_needs_required_members() {
        let err = parse_request("RunTask", b"").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
        assert!(err.message.contains("taskDefinition"), "{}", err.message);
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let err = parse_request("CreateCluster", b"{\n  \"clusterName\": \"a\",\n}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Client);
        assert!(err.message.contains("line 3 column 1"), "{}", err.message);
    }

    #[test]
    fn body_that_is_not_an_object_is_a_client_error() {
        for body in [&b"[]"[..], b"null", b"42", b"\"x\""] {
            let err = parse_request("ListClusters", body).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Client, "{}", err.message);
        }
    }

    #[test]
    fn shape_violations_come_from_the_validator() {
        let body = br#"{"taskDefinition": "web", "count": "two"}"#;
        let err = parse_request("RunTask", body).unwrap_err();
        assert!(err.message.contains("count"), "{}", err.message);
    }

    #[test]
    fn valid_body_is_returned_and_decodes() {
        let body = br#"{"family": "web", "containerDefinitions": [{"name": "a", "image": "nginx", "memory": 128}]}"#;
        let value = parse_request("RegisterTaskDefinition", body).unwrap();
        let req: crate::model::RegisterTaskDefinitionRequest =
            serde_json::from_value(value).unwrap();
        assert_eq!(req.family.as_deref(), Some("web"));
    }

    /// The fuzz seeds start with the index of their operation in `OPERATIONS`; regenerating the
    /// model can shift the indices, and then `fuzz/seeds.py` must be rerun.
    #[test]
    fn fuzz_seeds_name_their_operation_and_are_accepted() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("seed-") else {
                continue;
            };
            let op_name = rest.rsplit_once('-').unwrap().0;
            let data = std::fs::read(&path).unwrap();
            let op = &OPERATIONS[usize::from(data[0])];
            assert_eq!(op.name, op_name, "{name}: rerun fuzz/seeds.py");
            parse_request(op.name, &data[1..]).unwrap_or_else(|e| panic!("{name}: {e}"));
            seen += 1;
        }
        assert!(seen > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn integer_out_of_i32_range_is_rejected_before_decoding() {
        let body = br#"{"taskDefinition": "web", "count": 4294967296}"#;
        let err = parse_request("RunTask", body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
    }
}
