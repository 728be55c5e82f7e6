//! ECS error shapes: `{"__type": "<ExceptionName>", "message": "..."}` with ECS's HTTP status.

use serde::{Deserialize, Serialize};

/// The exception names ECS uses, and the ones the AWS JSON protocol adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Client,
    InvalidParameter,
    ClusterNotFound,
    ClusterContainsContainerInstances,
    ClusterContainsTasks,
    ClusterContainsServices,
    ServiceNotFound,
    ServiceNotActive,
    ServiceDeploymentNotFound,
    TargetNotFound,
    AttributeLimitExceeded,
    ResourceNotFound,
    ResourceInUse,
    AccessDenied,
    UnknownOperation,
    Serialization,
    RequestEntityTooLarge,
    UnsupportedFeature,
    NamespaceNotFound,
    NoUpdateAvailable,
    Conflict,
    Server,
    // SSM's exceptions (the `ssm` model names them without the `Exception` suffix).
    SsmInvalidActivation,
    SsmInvalidActivationId,
    SsmInvalidParameters,
    SsmInvalidFilter,
    SsmInvalidFilterKey,
    SsmInvalidInstanceInformationFilterValue,
    SsmInvalidNextToken,
    SsmInvalidInstanceId,
    SsmInvalidResourceType,
    SsmInvalidResourceId,
    SsmTooManyTags,
    SsmTooManyUpdates,
    SsmInternalServerError,
    Validation,
    // Parameter Store's exceptions (the `ssm` model's names).
    SsmParameterNotFound,
    SsmParameterAlreadyExists,
    SsmParameterVersionNotFound,
    SsmHierarchyLevelLimitExceeded,
    SsmParameterMaxVersionLimitExceeded,
    SsmInvalidKeyId,
    SsmInvalidAllowedPattern,
    SsmParameterPatternMismatch,
    SsmParameterVersionLabelLimitExceeded,
    SsmInvalidFilterOption,
    SsmInvalidFilterValue,
    SsmUnsupportedParameterType,
    // Secrets Manager's exceptions (its `ResourceNotFoundException`, `InvalidParameterException`
    // and `AccessDeniedException` are the shared kinds above).
    SmInvalidRequest,
    SmResourceExists,
    SmLimitExceeded,
    SmMalformedPolicyDocument,
    SmPublicPolicy,
    SmInvalidNextToken,
    SmEncryptionFailure,
    SmDecryptionFailure,
    SmInternalServiceError,
}

impl ErrorKind {
    /// The `__type` ECS puts on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Client => "ClientException",
            Self::InvalidParameter => "InvalidParameterException",
            Self::ClusterNotFound => "ClusterNotFoundException",
            Self::ClusterContainsContainerInstances => "ClusterContainsContainerInstancesException",
            Self::ClusterContainsTasks => "ClusterContainsTasksException",
            Self::ClusterContainsServices => "ClusterContainsServicesException",
            Self::ServiceNotFound => "ServiceNotFoundException",
            Self::ServiceNotActive => "ServiceNotActiveException",
            Self::ServiceDeploymentNotFound => "ServiceDeploymentNotFoundException",
            Self::TargetNotFound => "TargetNotFoundException",
            Self::AttributeLimitExceeded => "AttributeLimitExceededException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceInUse => "ResourceInUseException",
            Self::AccessDenied => "AccessDeniedException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::Serialization => "SerializationException",
            Self::RequestEntityTooLarge => "RequestEntityTooLargeException",
            Self::UnsupportedFeature => "UnsupportedFeatureException",
            Self::NamespaceNotFound => "NamespaceNotFoundException",
            Self::NoUpdateAvailable => "NoUpdateAvailableException",
            Self::Conflict => "ConflictException",
            Self::Server => "ServerException",
            Self::SsmInvalidActivation => "InvalidActivation",
            Self::SsmInvalidActivationId => "InvalidActivationId",
            Self::SsmInvalidParameters => "InvalidParameters",
            Self::SsmInvalidFilter => "InvalidFilter",
            Self::SsmInvalidFilterKey => "InvalidFilterKey",
            Self::SsmInvalidInstanceInformationFilterValue => {
                "InvalidInstanceInformationFilterValue"
            }
            Self::SsmInvalidNextToken => "InvalidNextToken",
            Self::SsmInvalidInstanceId => "InvalidInstanceId",
            Self::SsmInvalidResourceType => "InvalidResourceType",
            Self::SsmInvalidResourceId => "InvalidResourceId",
            Self::SsmTooManyTags => "TooManyTagsError",
            Self::SsmTooManyUpdates => "TooManyUpdates",
            Self::SsmInternalServerError => "InternalServerError",
            Self::Validation => "ValidationException",
            Self::SsmParameterNotFound => "ParameterNotFound",
            Self::SsmParameterAlreadyExists => "ParameterAlreadyExists",
            Self::SsmParameterVersionNotFound => "ParameterVersionNotFound",
            Self::SsmHierarchyLevelLimitExceeded => "HierarchyLevelLimitExceededException",
            Self::SsmParameterMaxVersionLimitExceeded => "ParameterMaxVersionLimitExceeded",
            Self::SsmInvalidKeyId => "InvalidKeyId",
            Self::SsmInvalidAllowedPattern => "InvalidAllowedPatternException",
            Self::SsmParameterPatternMismatch => "ParameterPatternMismatchException",
            Self::SsmParameterVersionLabelLimitExceeded => "ParameterVersionLabelLimitExceeded",
            Self::SsmInvalidFilterOption => "InvalidFilterOption",
            Self::SsmInvalidFilterValue => "InvalidFilterValue",
            Self::SsmUnsupportedParameterType => "UnsupportedParameterType",
            Self::SmInvalidRequest => "InvalidRequestException",
            Self::SmResourceExists => "ResourceExistsException",
            Self::SmLimitExceeded => "LimitExceededException",
            Self::SmMalformedPolicyDocument => "MalformedPolicyDocumentException",
            Self::SmPublicPolicy => "PublicPolicyException",
            Self::SmInvalidNextToken => "InvalidNextTokenException",
            Self::SmEncryptionFailure => "EncryptionFailure",
            Self::SmDecryptionFailure => "DecryptionFailure",
            Self::SmInternalServiceError => "InternalServiceError",
        }
    }

    /// The HTTP status ECS answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Server | Self::SsmInternalServerError | Self::SmInternalServiceError => 500,
            Self::RequestEntityTooLarge => 413,
            _ => 400,
        }
    }

    /// The kind for an exception name, for clients decoding errors.
    pub fn from_name(name: &str) -> Option<Self> {
        // The `__type` may carry a namespace prefix (`com.amazonaws.ecs#ClientException`).
        let short = name.rsplit('#').next().unwrap_or(name);
        ALL.iter().copied().find(|k| k.name() == short)
    }
}

const ALL: &[ErrorKind] = &[
    ErrorKind::Client,
    ErrorKind::InvalidParameter,
    ErrorKind::ClusterNotFound,
    ErrorKind::ClusterContainsContainerInstances,
    ErrorKind::ClusterContainsTasks,
    ErrorKind::ClusterContainsServices,
    ErrorKind::ServiceNotFound,
    ErrorKind::ServiceNotActive,
    ErrorKind::ServiceDeploymentNotFound,
    ErrorKind::TargetNotFound,
    ErrorKind::AttributeLimitExceeded,
    ErrorKind::ResourceNotFound,
    ErrorKind::ResourceInUse,
    ErrorKind::AccessDenied,
    ErrorKind::UnknownOperation,
    ErrorKind::Serialization,
    ErrorKind::RequestEntityTooLarge,
    ErrorKind::UnsupportedFeature,
    ErrorKind::NamespaceNotFound,
    ErrorKind::NoUpdateAvailable,
    ErrorKind::Conflict,
    ErrorKind::Server,
    ErrorKind::SsmInvalidActivation,
    ErrorKind::SsmInvalidActivationId,
    ErrorKind::SsmInvalidParameters,
    ErrorKind::SsmInvalidFilter,
    ErrorKind::SsmInvalidFilterKey,
    ErrorKind::SsmInvalidInstanceInformationFilterValue,
    ErrorKind::SsmInvalidNextToken,
    ErrorKind::SsmInvalidInstanceId,
    ErrorKind::SsmInvalidResourceType,
    ErrorKind::SsmInvalidResourceId,
    ErrorKind::SsmTooManyTags,
    ErrorKind::SsmTooManyUpdates,
    ErrorKind::SsmInternalServerError,
    ErrorKind::Validation,
    ErrorKind::SsmParameterNotFound,
    ErrorKind::SsmParameterAlreadyExists,
    ErrorKind::SsmParameterVersionNotFound,
    ErrorKind::SsmHierarchyLevelLimitExceeded,
    ErrorKind::SsmParameterMaxVersionLimitExceeded,
    ErrorKind::SsmInvalidKeyId,
    ErrorKind::SsmInvalidAllowedPattern,
    ErrorKind::SsmParameterPatternMismatch,
    ErrorKind::SsmParameterVersionLabelLimitExceeded,
    ErrorKind::SsmInvalidFilterOption,
    ErrorKind::SsmInvalidFilterValue,
    ErrorKind::SsmUnsupportedParameterType,
    ErrorKind::SmInvalidRequest,
    ErrorKind::SmResourceExists,
    ErrorKind::SmLimitExceeded,
    ErrorKind::SmMalformedPolicyDocument,
    ErrorKind::SmPublicPolicy,
    ErrorKind::SmInvalidNextToken,
    ErrorKind::SmEncryptionFailure,
    ErrorKind::SmDecryptionFailure,
    ErrorKind::SmInternalServiceError,
];

/// An error as an ECS client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn client(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Client, message)
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Server, message)
    }
    pub fn cluster_not_found() -> Self {
        Self::new(
            ErrorKind::ClusterNotFound,
            // ECS's own words; the CLI says what to do about it.
            "Cluster not found.",
        )
    }

    /// The JSON body ECS sends for this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            kind: self.kind.name().to_string(),
            message: self.message.clone(),
        }
    }
}

/// The wire form of an error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "__type")]
    pub kind: String,
    #[serde(alias = "Message")]
    pub message: String,
}
