//! A small client of Gantry's ECS API (AWS JSON 1.1), for the CLI.

use anyhow::{anyhow, Context};
use gantry_api::error::ErrorBody;
use serde_json::Value;

pub struct Client {
    endpoint: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Calls an ECS operation; ECS errors come back as `<Exception>: <message>`.
    pub async fn call(&self, op: &str, body: Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("Content-Type", gantry_api::CONTENT_TYPE)
            .header("X-Amz-Target", format!("{}{op}", gantry_api::TARGET_PREFIX))
            .body(body.to_string())
            .send()
            .await
            .with_context(|| {
                format!(
                    "could not reach the Gantry API at {}; is `gantry server` (or `gantry dev`) running? Set --endpoint or GANTRY_ENDPOINT",
                    self.endpoint
                )
            })?;
        let status = resp.status();
        let text = resp.text().await.context("reading the API response")?;
        if status.is_success() {
            return serde_json::from_str(&text).context("the API answered with invalid JSON");
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) => Err(anyhow!("{}: {}", e.kind, e.message)),
            Err(_) => Err(anyhow!("the API answered {status}: {text}")),
        }
    }
}
