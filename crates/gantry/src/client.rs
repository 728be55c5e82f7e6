//! A small client of Gantry's ECS API (AWS JSON 1.1) and its logs endpoint, for the CLI:
//! every request is SigV4-signed (service `ecs`) with the credentials of [`crate::creds`].

use anyhow::{anyhow, Context};
use gantry_api::error::ErrorBody;
use gantry_link::Signer;
use serde_json::Value;

pub struct Client {
    endpoint: String,
    http: reqwest::Client,
    signer: Signer,
}

impl Client {
    /// A client that signs with `signer` and, for `https`, trusts only the PEM bundle `ca`
    /// when given.
    pub fn signed(endpoint: &str, signer: Signer, ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let http = match ca {
            Some(pem) => gantry_link::https_client(pem).context("--ca-bundle")?,
            None => reqwest::Client::new(),
        };
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http,
            signer,
        })
    }

    /// The client the CLI's commands use: credentials, region and CA bundle from the
    /// command line, the environment and the shared files.
    pub fn from_chain(endpoint: &str, flags: &crate::creds::Flags) -> anyhow::Result<Self> {
        let r = crate::creds::resolve(flags, &|k| std::env::var(k).ok())?;
        tracing::debug!(key = %r.creds.access_key_id, source = %r.source, region = %r.region, "signing with");
        let ca = match &r.ca_bundle {
            Some(p) => Some(
                std::fs::read(p)
                    .with_context(|| format!("could not read the CA bundle {}", p.display()))?,
            ),
            None => None,
        };
        Self::signed(endpoint, Signer::new(r.creds, r.region), ca.as_deref())
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn unreachable(&self) -> String {
        format!(
            "could not reach the Gantry API at {}; is `gantry server` (or `gantry dev`) running? Set --endpoint or GANTRY_ENDPOINT",
            self.endpoint
        )
    }

    /// Signs and sends `req`.
    async fn send(&self, mut req: reqwest::Request) -> anyhow::Result<reqwest::Response> {
        self.signer.sign_reqwest(&mut req)?;
        self.http
            .execute(req)
            .await
            .with_context(|| self.unreachable())
    }

    /// Calls an ECS operation; ECS errors come back as `<Exception>: <message>`.
    pub async fn call(&self, op: &str, body: Value) -> anyhow::Result<Value> {
        let target = format!("{}{op}", gantry_api::TARGET_PREFIX);
        self.call_target(&target, None, body).await
    }

    /// Calls another JSON 1.1 API of the server (`X-Amz-Target: <target>`), signed for
    /// `service` (none: the client's, `ecs`).
    pub async fn call_target(
        &self,
        target: &str,
        service: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("Content-Type", gantry_api::CONTENT_TYPE)
            .header("X-Amz-Target", target)
            .body(body.to_string())
            .build()
            .context("building the request")?;
        let resp = match service {
            None => self.send(req).await?,
            Some(svc) => {
                self.signer
                    .clone()
                    .with_service(svc)
                    .sign_reqwest(&mut req)?;
                self.http
                    .execute(req)
                    .await
                    .with_context(|| self.unreachable())?
            }
        };
        let status = resp.status();
        let text = resp.text().await.context("reading the API response")?;
        if status.is_success() {
            return serde_json::from_str(&text).context("the API answered with invalid JSON");
        }
        Err(api_error(status, &text))
    }

    /// A signed `GET` of `path_and_query` (e.g. `/gantry/v1/logs?task=…`) that must succeed;
    /// the body is left to stream.
    pub async fn get(&self, url: reqwest::Url) -> anyhow::Result<reqwest::Response> {
        let req = self.http.get(url).build().context("building the request")?;
        let resp = self.send(req).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(api_error(status, &text))
    }
}

/// `<Exception>: <message>` of an AWS JSON error body, else the status and the text.
fn api_error(status: reqwest::StatusCode, text: &str) -> anyhow::Error {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(e) => anyhow!("{}: {}", e.kind, e.message),
        Err(_) => anyhow!("the API answered {status}: {text}"),
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
