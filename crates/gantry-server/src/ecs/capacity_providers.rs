//! Capacity providers (docs/capacity-providers.md): what clusters and strategies refer to.

use gantry_store::Store;

use crate::error::Result;
use crate::persistence::capacity_provider_records::{
    capacity_provider_key, CapacityProviderRecord, CapacityProviderStatus,
};
use crate::persistence::db;
use crate::state::AppState;

/// Is `name` (a name or ARN) an ACTIVE capacity provider?
pub async fn exists<S: Store>(st: &AppState<S>, name: &str) -> Result<bool> {
    let name = gantry_api::arn::short_id(name);
    Ok(
        db::get::<S, CapacityProviderRecord>(&st.store, &capacity_provider_key(name))
            .await?
            .is_some_and(|c| c.value.status == CapacityProviderStatus::Active),
    )
}
