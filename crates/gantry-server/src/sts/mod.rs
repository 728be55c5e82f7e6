//! STS, as the botocore `sts` model defines it (query protocol, namespace
//! `https://sts.amazonaws.com/doc/2011-06-15/`): GetCallerIdentity, AssumeRole and
//! GetSessionToken. Temporary credentials are access key records with a session
//! ([`crate::persistence::iam_records::Session`]), sealed like permanent secrets, so the
//! auth gate finds them through [`crate::iam::identity::by_access_key`].

pub mod credentials;

use axum::response::Response;
use gantry_store::Store;

use crate::auth::Caller;
use crate::aws::query::{respond, QueryRequest};
use crate::iam::error::IamError;
use crate::state::AppState;

pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const VERSION: &str = "2011-06-15";

macro_rules! operations {
    ($($name:literal => $handler:path,)*) => {
        /// The STS operations Gantry serves.
        pub const IMPLEMENTED: &[&str] = &[$($name,)*];

        /// Runs an STS query request.
        pub async fn dispatch<S: Store>(st: &AppState<S>, req: &QueryRequest, caller: &Caller) -> Response {
            if req.version != VERSION {
                return IamError::new("InvalidAction", 400, format!(
                    "Version {} is not an STS API version; send Version={VERSION}.", req.version
                )).response();
            }
            match req.action.as_str() {
                $($name => match $handler(st, req, caller).await {
                    Ok(f) => respond($name, NAMESPACE, f),
                    Err(e) => e.response(),
                },)*
                other => IamError::new(
                    "InvalidAction",
                    400,
                    format!("Gantry does not implement the STS action {other}."),
                ).response(),
            }
        }
    };
}

operations! {
    "GetCallerIdentity" => credentials::get_caller_identity,
    "AssumeRole" => credentials::assume_role,
    "GetSessionToken" => credentials::get_session_token,
}
