//! Secrets Manager's exceptions, with the texts the service gives. No message ever carries a
//! secret value: the handlers name members, ids and stages, never what a value holds.

use gantry_api::{ApiError, ErrorKind};

use super::envelope::EnvelopeError;
use crate::error::Error;

fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::Api(ApiError::new(kind, message))
}

pub fn not_found() -> Error {
    err(
        ErrorKind::ResourceNotFound,
        "Secrets Manager can't find the specified secret.",
    )
}

pub fn version_not_found(id: &str) -> Error {
    err(
        ErrorKind::ResourceNotFound,
        format!("Secrets Manager can't find the specified secret value for VersionId: {id}"),
    )
}

pub fn stage_not_found(stage: &str) -> Error {
    err(
        ErrorKind::ResourceNotFound,
        format!("Secrets Manager can't find the specified secret value for staging label: {stage}"),
    )
}

/// Any operation but DescribeSecret, ListSecrets and RestoreSecret on a secret whose
/// deletion is scheduled.
pub fn marked_for_deletion() -> Error {
    err(
        ErrorKind::SmInvalidRequest,
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

pub fn invalid_request(message: impl Into<String>) -> Error {
    err(ErrorKind::SmInvalidRequest, message)
}

pub fn invalid_parameter(message: impl Into<String>) -> Error {
    err(ErrorKind::InvalidParameter, message)
}

pub fn exists(name: &str) -> Error {
    err(
        ErrorKind::SmResourceExists,
        format!("The operation failed because the secret {name} already exists."),
    )
}

/// A ClientRequestToken reused with a different value.
pub fn version_exists() -> Error {
    err(
        ErrorKind::SmResourceExists,
        "You can't modify an existing version, you can only create a new version.",
    )
}

pub fn invalid_next_token() -> Error {
    err(
        ErrorKind::SmInvalidNextToken,
        "The NextToken value is invalid.",
    )
}

pub fn malformed_policy(why: &str) -> Error {
    err(
        ErrorKind::SmMalformedPolicyDocument,
        format!("This resource policy contains an unsupported element or is malformed: {why}"),
    )
}

pub fn limit(message: impl Into<String>) -> Error {
    err(ErrorKind::SmLimitExceeded, message)
}

/// A value that cannot be sealed or opened: the error names the master key at most.
pub fn envelope(e: &EnvelopeError, sealing: bool) -> Error {
    tracing::error!(error = %e, "secret value encryption failed");
    if sealing {
        err(
            ErrorKind::SmEncryptionFailure,
            format!("Secrets Manager can't encrypt the protected secret text using the provided master key: {e}"),
        )
    } else {
        err(
            ErrorKind::SmDecryptionFailure,
            format!("Secrets Manager can't decrypt the protected secret text using the provided master key: {e}"),
        )
    }
}

/// What Secrets Manager clients see for a failure of Gantry's own: `InternalServiceError`.
pub fn to_sm(e: &Error) -> ApiError {
    let api = e.to_api();
    if api.kind == ErrorKind::Server {
        return ApiError::new(ErrorKind::SmInternalServiceError, api.message);
    }
    api
}
