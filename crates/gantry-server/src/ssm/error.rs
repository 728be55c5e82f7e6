//! SSM's exceptions as the handlers raise them, with the texts SSM gives where its
//! documentation states them. Every one becomes an [`ApiError`] of SSM's name.

use gantry_api::{ApiError, ErrorKind};

use crate::error::Error;

fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::Api(ApiError::new(kind, message))
}

/// `ValidationException` with the constraint texts of [`super::input::Checks`].
pub fn validation(message: impl Into<String>) -> Error {
    err(ErrorKind::Validation, message)
}

pub fn invalid_parameters(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidParameters, message)
}

/// No activation of this id (never created, or deleted): the exception's text in SSM's API
/// reference (SSM names no id in it).
pub fn invalid_activation_id(_id: &str) -> Error {
    err(
        ErrorKind::SsmInvalidActivationId,
        "The activation ID isn't valid. Verify that you entered the correct ActivationId or ActivationCode and try again.",
    )
}

/// The activation exists but cannot be used for what was asked.
pub fn invalid_activation(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidActivation, message)
}

/// No registered managed instance of this id: SSM's words for an `mi-` id it does not know
/// ("InvalidInstanceId: Not existing InstanceId mi-…", as SSM Agent logs it).
pub fn invalid_instance_id(id: &str) -> Error {
    err(
        ErrorKind::SsmInvalidInstanceId,
        format!("Not existing InstanceId {id}"),
    )
}

pub fn invalid_next_token() -> Error {
    err(
        ErrorKind::SsmInvalidNextToken,
        "The specified token isn't valid.",
    )
}

pub fn invalid_filter_key(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidFilterKey, message)
}

pub fn invalid_filter_value(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidInstanceInformationFilterValue, message)
}

pub fn invalid_resource_type(message: impl Into<String>) -> Error {
    err(ErrorKind::SsmInvalidResourceType, message)
}

pub fn invalid_resource_id(id: &str) -> Error {
    err(
        ErrorKind::SsmInvalidResourceId,
        format!("The resource ID {id} isn't valid. Verify that you entered the correct ID and try again."),
    )
}

pub fn too_many_tags() -> Error {
    err(
        ErrorKind::SsmTooManyTags,
        "A resource can have at most 1000 tags. Remove one or more tags and try the command again.",
    )
}

/// What SSM clients see for a failure of Gantry's own: `InternalServerError` (the ECS
/// framing would say `ServerException`).
pub fn to_ssm(e: &Error) -> ApiError {
    let api = e.to_api();
    if api.kind == ErrorKind::Server {
        return ApiError::new(ErrorKind::SsmInternalServerError, api.message);
    }
    if matches!(e, Error::Contention { .. }) {
        return ApiError::new(ErrorKind::SsmTooManyUpdates, api.message);
    }
    api
}
