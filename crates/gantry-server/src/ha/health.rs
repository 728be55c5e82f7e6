//! `GET /healthz`, unauthenticated, for load balancers and operators: whether this replica
//! can reach its store, whether it leads, and who does.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gantry_store::Store;
use serde_json::{json, Value};

use super::LEADER_KEY;
use crate::state::AppState;

/// The path.
pub const HEALTHZ_PATH: &str = "/healthz";

/// 200 with `"status":"ok"` while the store answers; 503 with `"status":"store-unavailable"`
/// and the store's error otherwise.
pub async fn healthz<S: Store>(State(st): State<Arc<AppState<S>>>) -> Response {
    let (code, body) = report(&st).await;
    (code, Json(body)).into_response()
}

/// The status code and body of `/healthz`.
pub async fn report<S: Store>(st: &AppState<S>) -> (StatusCode, Value) {
    let mut body = json!({
        "replica": st.replica,
        "leader": st.is_leader(),
        "store": st.store.kind(),
    });
    let read = async {
        let revision = st.store.revision().await?;
        let leader = st.store.get(LEADER_KEY).await?;
        Ok::<_, gantry_store::StoreError>((revision, leader))
    };
    match read.await {
        Ok((revision, leader)) => {
            body["status"] = json!("ok");
            body["storeRevision"] = json!(revision);
            // The election key's value is the leader's replica id; none while nobody leads.
            body["leaderReplica"] = leader
                .and_then(|r| String::from_utf8(r.value).ok())
                .map_or(Value::Null, Value::String);
            (StatusCode::OK, body)
        }
        Err(e) => {
            body["status"] = json!("store-unavailable");
            body["error"] = json!(e.to_string());
            body["leaderReplica"] = Value::Null;
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }
    }
}
