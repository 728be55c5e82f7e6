//! Checks a request body against the shapes of the service model: types, required members,
//! enum values, lengths and ranges. The error names the member the way a user wrote it
//! (`containerDefinitions[0].portMappings[1].containerPort`).

use serde_json::Value;

use crate::error::ApiError;

/// A shape of the model, as far as validation needs it.
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    pub kind: ShapeKind,
}

/// What a shape constrains.
#[derive(Debug)]
pub enum ShapeKind {
    Structure {
        members: &'static [(&'static str, &'static str)],
        required: &'static [&'static str],
    },
    List {
        member: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        value: &'static str,
    },
    String {
        enum_values: &'static [&'static str],
        min: Option<i64>,
        max: Option<i64>,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Number,
}

/// The shape with this name.
pub fn shape(name: &str) -> Option<&'static Shape> {
    let shapes = super::schema::SHAPES;
    shapes
        .binary_search_by(|s| s.name.cmp(name))
        .ok()
        .map(|i| &shapes[i])
}

/// Validates `value` against the shape `shape_name`. Unknown members are ignored, as AWS
/// ignores them.
pub fn validate(shape_name: &str, value: &Value) -> Result<(), ApiError> {
    let mut path = String::new();
    check(shape_name, value, &mut path)
}

fn describe(path: &str) -> &str {
    if path.is_empty() {
        "the request body"
    } else {
        path
    }
}

fn type_error(path: &str, expected: &str, got: &Value) -> ApiError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    ApiError::client(format!(
        "{} must be {expected}, but the request has {got}.",
        describe(path)
    ))
}

fn check(shape_name: &str, value: &Value, path: &mut String) -> Result<(), ApiError> {
    let Some(shape) = shape(shape_name) else {
        return Ok(());
    };
    match &shape.kind {
        ShapeKind::Structure { members, required } => {
            let Some(obj) = value.as_object() else {
                return Err(type_error(path, "an object", value));
            };
            for req in *required {
                if obj.get(*req).is_none_or(Value::is_null) {
                    let at = join(path, req);
                    return Err(ApiError::invalid_parameter(format!(
                        "{at} is required but was not provided."
                    )));
                }
            }
            for (member, member_shape) in *members {
                if let Some(v) = obj.get(*member) {
                    if v.is_null() {
                        continue;
                    }
                    let len = path.len();
                    push(path, member);
                    check(member_shape, v, path)?;
                    path.truncate(len);
                }
            }
        }
        ShapeKind::List { member, min, max } => {
            let Some(items) = value.as_array() else {
                return Err(type_error(path, "a list", value));
            };
            let n = i64::try_from(items.len()).unwrap_or(i64::MAX);
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(ApiError::invalid_parameter(format!(
                    "{} has {n} items; it must have {}.",
                    describe(path),
                    bounds(*min, *max)
                )));
            }
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check(member, item, path)?;
                path.truncate(len);
            }
        }
        ShapeKind::Map { value: vshape } => {
            let Some(obj) = value.as_object() else {
                return Err(type_error(path, "a map", value));
            };
            for (k, v) in obj {
                let len = path.len();
                path.push_str(&format!("[{k:?}]"));
                check(vshape, v, path)?;
                path.truncate(len);
            }
        }
        ShapeKind::String {
            enum_values,
            min,
            max,
        } => {
            let Some(s) = value.as_str() else {
                return Err(type_error(path, "a string", value));
            };
            if !enum_values.is_empty() && !enum_values.contains(&s) {
                return Err(ApiError::invalid_parameter(format!(
                    "{} has the value {s:?}, which is not one of: {}.",
                    describe(path),
                    enum_values.join(", ")
                )));
            }
            let n = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(ApiError::invalid_parameter(format!(
                    "{} is {n} characters long; it must be {} characters.",
                    describe(path),
                    bounds(*min, *max)
                )));
            }
        }
        ShapeKind::Integer { min, max } => {
            let Some(n) = value.as_i64() else {
                return Err(type_error(path, "an integer", value));
            };
            if i32::try_from(n).is_err() && shape.name != "Long" && shape.name != "BoxedLong" {
                return Err(ApiError::invalid_parameter(format!(
                    "{} is {n}, which does not fit a 32-bit integer.",
                    describe(path)
                )));
            }
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(ApiError::invalid_parameter(format!(
                    "{} is {n}; it must be {}.",
                    describe(path),
                    bounds(*min, *max)
                )));
            }
        }
        ShapeKind::Boolean => {
            if !value.is_boolean() {
                return Err(type_error(path, "a boolean", value));
            }
        }
        ShapeKind::Number => {
            if !value.is_number() {
                return Err(type_error(path, "a number", value));
            }
        }
    }
    Ok(())
}

fn bounds(min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "valid".to_string(),
    }
}

fn push(path: &mut String, member: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(member);
}

fn join(path: &str, member: &str) -> String {
    let mut p = path.to_string();
    push(&mut p, member);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_member_with_the_wrong_type() {
        let body = json!({"family": "web", "containerDefinitions": [{"name": "a", "cpu": "lots"}]});
        let err = validate("RegisterTaskDefinitionRequest", &body).unwrap_err();
        assert_eq!(err.kind.name(), "ClientException");
        assert!(
            err.message.contains("containerDefinitions[0].cpu"),
            "{}",
            err.message
        );
    }

    #[test]
    fn missing_required_member_is_invalid_parameter() {
        let err = validate("RegisterTaskDefinitionRequest", &json!({"family": "x"})).unwrap_err();
        assert_eq!(err.kind.name(), "InvalidParameterException");
        assert!(err.message.contains("containerDefinitions"));
    }

    #[test]
    fn bad_enum_value_is_rejected() {
        let body = json!({"family": "x", "containerDefinitions": [], "networkMode": "warp"});
        let err = validate("RegisterTaskDefinitionRequest", &body).unwrap_err();
        assert!(err.message.contains("networkMode"), "{}", err.message);
    }

    #[test]
    fn unknown_members_are_ignored() {
        let body = json!({"family": "x", "containerDefinitions": [], "somethingNew": 1});
        validate("RegisterTaskDefinitionRequest", &body).unwrap();
    }
}
