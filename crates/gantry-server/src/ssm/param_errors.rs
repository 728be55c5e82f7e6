//! Parameter Store's exceptions, with the texts the service gives where they are known and
//! the `ssm` model's documentation of the exception otherwise. No text ever holds a value.

use gantry_api::{ApiError, ErrorKind};

use crate::error::Error;

fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::Api(ApiError::new(kind, message))
}

/// The service answers GetParameter and DeleteParameter for a missing name with no text;
/// the model's documentation is the more useful one.
pub fn not_found(name: &str) -> Error {
    err(
        ErrorKind::SsmParameterNotFound,
        format!("The parameter {name} couldn't be found. Verify the name and try again."),
    )
}

pub fn already_exists() -> Error {
    err(
        ErrorKind::SsmParameterAlreadyExists,
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
    )
}

pub fn version_not_found(name: &str, version: &str) -> Error {
    err(
        ErrorKind::SsmParameterVersionNotFound,
        format!("Systems Manager could not find version {version} of {name}. Verify the version and try again."),
    )
}

pub fn hierarchy_too_deep() -> Error {
    err(
        ErrorKind::SsmHierarchyLevelLimitExceeded,
        "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide.",
    )
}

pub fn max_versions(name: &str, oldest: i64) -> Error {
    err(
        ErrorKind::SsmParameterMaxVersionLimitExceeded,
        format!("You attempted to create a new version of {name} by calling the PutParameter API with the overwrite flag. Version {oldest}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again."),
    )
}

pub fn invalid_key_id(key: &str) -> Error {
    err(
        ErrorKind::SsmInvalidKeyId,
        format!("Gantry has no KMS: the KeyId member must be alias/aws/ssm (the default, a key Gantry keeps itself) or left out, not {key}."),
    )
}

pub fn invalid_allowed_pattern(why: &str) -> Error {
    err(
        ErrorKind::SsmInvalidAllowedPattern,
        format!("The request doesn't meet the regular expression requirement: {why}"),
    )
}

pub fn pattern_mismatch(pattern: &str) -> Error {
    err(
        ErrorKind::SsmParameterPatternMismatch,
        format!("Parameter value, cannot be validated against allowedPattern: {pattern}"),
    )
}

pub fn too_many_labels() -> Error {
    err(
        ErrorKind::SsmParameterVersionLabelLimitExceeded,
        "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.",
    )
}

pub fn invalid_filter_option(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidFilterOption, message)
}

pub fn invalid_filter_value(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidFilterValue, message)
}

pub fn invalid_filter_key(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidFilterKey, message)
}

pub fn validation(message: impl Into<String>) -> Error {
    err(ErrorKind::Validation, message)
}

/// The service's text for a name that breaks the naming rules.
pub fn bad_name() -> Error {
    validation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_")
}

/// A failure of Gantry's own sealing (the key file); never names the value.
pub fn sealing(e: &impl std::fmt::Display) -> Error {
    Error::Api(ApiError::server(format!(
        "Gantry could not encrypt or decrypt a SecureString: {e}"
    )))
}
