//! SSM activations: `CreateActivation`, `DescribeActivations`, `DeleteActivation`, and the
//! redemption a joining host makes through the agent gateway.

use gantry_store::Store;

use crate::error::Result;
use crate::state::AppState;

/// What a redeemed activation gives the host that joins with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redeemed {
    /// The new managed instance's id, `mi-` + 17 hex digits.
    pub managed_instance_id: String,
    /// The activation's IAM role (its name, as `create-activation --iam-role` gave it).
    pub iam_role: String,
    /// The activation's default instance name, if it has one.
    pub default_instance_name: Option<String>,
}

/// Redeems activation `id` with `code` for one host named `hostname`: checks the code
/// (constant time), the expiry and the registration limit, counts the registration and
/// creates the managed instance record, all in one compare-and-swap. The error for a wrong,
/// expired, deleted or used-up activation says which, without revealing a code.
pub async fn redeem<S: Store>(
    st: &AppState<S>,
    id: &str,
    code: &str,
    hostname: &str,
) -> Result<Redeemed> {
    // Skeleton: the SSM work fills this in.
    let _ = (st, id, code, hostname);
    Err(crate::error::invalid(
        "SSM activations are not served yet".to_string(),
    ))
}
