//! IAM's and STS's errors as the query protocol sends them: a code from the service model,
//! its HTTP status, and a message in IAM's words.

use axum::response::Response;

/// An IAM or STS error a client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct IamError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

pub type IamResult<T> = std::result::Result<T, IamError>;

impl IamError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new("NoSuchEntity", 404, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new("EntityAlreadyExists", 409, message)
    }
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new("DeleteConflict", 409, message)
    }
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", 409, message)
    }
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        Self::new("MalformedPolicyDocument", 400, message)
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("InvalidInput", 400, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }
    pub fn unmodifiable(message: impl Into<String>) -> Self {
        Self::new("UnmodifiableEntity", 400, message)
    }
    /// A member of the model Gantry cannot honour, refused by name.
    pub fn unsupported(member: &str) -> Self {
        Self::invalid_input(format!(
            "Gantry does not support the {member} parameter; send the request without it."
        ))
    }
    /// `MissingParameter` for a required member left out.
    pub fn missing(member: &str) -> Self {
        Self::new(
            "MissingParameter",
            400,
            format!("The request must contain the parameter {member}."),
        )
    }

    /// The XML error response.
    pub fn response(&self) -> Response {
        crate::aws::query::coded_error_response(self.status, self.code, &self.message)
    }
}

impl From<crate::error::Error> for IamError {
    // Store failures and contention are the service's fault; the SDKs retry ServiceFailure.
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Api(api) => Self::invalid_input(api.message),
            other => Self::new("ServiceFailure", 500, other.to_string()),
        }
    }
}

impl From<gantry_store::StoreError> for IamError {
    fn from(e: gantry_store::StoreError) -> Self {
        crate::error::Error::from(e).into()
    }
}
