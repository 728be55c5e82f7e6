//! Why the gate refused a request, with the codes, texts and HTTP statuses AWS answers with
//! in each protocol.

use gantry_aws::sigv4::{AuthError, Protocol};

/// An authorization failure: the first action and resource no policy allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub principal_arn: String,
    pub action: String,
    pub resource: String,
    /// A `Deny` statement matched (otherwise nothing allowed it).
    pub explicit: bool,
}

impl Denial {
    /// IAM's message: `User: <arn> is not authorized to perform: <action> on resource:
    /// <arn> because no identity-based policy allows the <action> action` (or `with an
    /// explicit deny in an identity-based policy`).
    pub fn message(&self) -> String {
        let Self {
            principal_arn,
            action,
            resource,
            explicit,
        } = self;
        let why = if *explicit {
            "with an explicit deny in an identity-based policy".to_string()
        } else {
            format!("because no identity-based policy allows the {action} action")
        };
        format!("User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}")
    }
}

/// Why the gate refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not authenticated.
    Auth(AuthError),
    /// Authenticated, not authorized.
    Denied(Denial),
    /// The gate could not decide (the identity store failed); nothing was done.
    Internal(String),
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl Refusal {
    /// The exception name (`__type` in JSON, `Code` in query XML).
    pub fn code(&self, proto: Protocol) -> &'static str {
        match (self, proto) {
            (Self::Auth(e), p) => e.code(p),
            (Self::Denied(_), Protocol::Json) => "AccessDeniedException",
            (Self::Denied(_), Protocol::Query) => "AccessDenied",
            (Self::Internal(_), Protocol::Json) => "ServerException",
            (Self::Internal(_), Protocol::Query) => "ServiceFailure",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Auth(e) => e.message(),
            Self::Denied(d) => d.message(),
            Self::Internal(m) => m.clone(),
        }
    }

    /// ECS (JSON) answers `AccessDeniedException` with 400 (the model gives it no status);
    /// IAM and STS answer `AccessDenied` with 403.
    pub fn status(&self, proto: Protocol) -> u16 {
        match (self, proto) {
            (Self::Auth(e), _) => e.status(),
            (Self::Denied(_), Protocol::Json) => 400,
            (Self::Denied(_), Protocol::Query) => 403,
            (Self::Internal(_), _) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_read_as_iam_writes_them() {
        let mut d = Denial {
            principal_arn: "arn:aws:iam::123456789012:user/alice".into(),
            action: "ecs:RunTask".into(),
            resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into(),
            explicit: false,
        };
        assert_eq!(
            d.message(),
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/web:3 because no identity-based policy allows the ecs:RunTask action"
        );
        d.explicit = true;
        assert!(d
            .message()
            .ends_with("task-definition/web:3 with an explicit deny in an identity-based policy"));
        let r = Refusal::Denied(d);
        assert_eq!(r.code(Protocol::Json), "AccessDeniedException");
        assert_eq!(r.status(Protocol::Json), 400);
        assert_eq!(r.code(Protocol::Query), "AccessDenied");
        assert_eq!(r.status(Protocol::Query), 403);
    }
}
