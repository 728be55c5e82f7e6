//! A small client of Gantry's ECS API (AWS JSON 1.1) and its logs endpoint, for the CLI:
//! every request is SigV4-signed (service `ecs`) with the credentials of [`crate::creds`].

use anyhow::{anyhow, Context};
use gantry_api::error::ErrorBody;
use gantry_link::{Current, Servers, Signer};
use serde_json::Value;

pub struct Client {
    /// `--endpoint a,b,c`: the replicas of one cluster; a request goes to the one in use and
    /// moves on only when it got no answer there (see [`Client::execute`]).
    endpoints: Servers,
    http: reqwest::Client,
    signer: Signer,
}

/// Whether a request may be sent again after it may have reached a server: only a read. A
/// write whose connection broke after sending may have been applied; sending it to another
/// replica could apply it twice (a second RunTask places a second task).
fn idempotent(target_or_method: &str) -> bool {
    let op = target_or_method
        .rsplit('.')
        .next()
        .unwrap_or(target_or_method);
    op == "GET"
        || ["Describe", "List", "Get"]
            .iter()
            .any(|p| op.starts_with(p))
}

/// What became of one attempt at one address.
enum Attempt {
    /// An answer: the caller gets it, whatever its status.
    Answered(reqwest::Response),
    /// Nothing reached a server, or a read got no usable answer: the next address may get it.
    Retry(String),
    /// A write may have reached the server and got no answer: never sent again.
    Failed(anyhow::Error),
}

impl Client {
    /// A client that signs with `signer` and, for `https`, trusts only the PEM bundle `ca`
    /// when given. `endpoint` is one URL or several of one cluster separated by commas.
    pub fn signed(endpoint: &str, signer: Signer, ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let endpoints = Servers::parse(endpoint).context("--endpoint")?;
        let http = match ca {
            Some(pem) => gantry_link::https_client(pem).context("--ca-bundle")?,
            None => reqwest::Client::builder()
                .connect_timeout(gantry_link::CONNECT_TIMEOUT)
                .build()
                .context("building the HTTP client")?,
        };
        Ok(Self {
            endpoints,
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

    /// The endpoint in use (the first that answered).
    pub fn endpoint(&self) -> String {
        self.endpoints.current_url()
    }

    /// Every endpoint, as the `--endpoint` (and an agent's `--server`) value `a,b,c`.
    pub fn endpoints(&self) -> String {
        self.endpoints.flag_value()
    }

    fn unreachable(&self, last: &str) -> anyhow::Error {
        let what = if self.endpoints.len() > 1 {
            format!("any of {}", self.endpoints)
        } else {
            self.endpoints.current_url()
        };
        anyhow!(
            "could not reach the Gantry API at {what}; is `gantry server` (or `gantry dev`) running? Set --endpoint or GANTRY_ENDPOINT: {last}"
        )
    }

    /// Builds (with `build`, given the endpoint), signs and sends a request, at each
    /// endpoint in turn from the one in use, until one answers. A request goes to the next
    /// endpoint only when the connection could not be made (nothing was sent), or, for a
    /// read (`idempotent`), when the connection broke before an answer or the answer was a
    /// 502/503 (a proxy or a replica not serving). Any other answer, an API error included,
    /// is the answer. `build` signs the request itself when `presigned`; else it is signed
    /// here for `ecs`.
    async fn execute(
        &self,
        idempotent: bool,
        presigned: bool,
        build: impl Fn(&str) -> anyhow::Result<reqwest::Request>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut last = String::new();
        for _ in 0..self.endpoints.len() {
            let at = self.endpoints.current();
            let req = build(&at.url)?;
            match self.attempt(req, idempotent, presigned).await? {
                Attempt::Answered(resp) => return Ok(resp),
                Attempt::Failed(e) => return Err(e.context(format!("at {}", at.url))),
                Attempt::Retry(why) => {
                    self.next(&at, &why);
                    last = why;
                }
            }
        }
        Err(self.unreachable(&last))
    }

    async fn attempt(
        &self,
        mut req: reqwest::Request,
        idempotent: bool,
        presigned: bool,
    ) -> anyhow::Result<Attempt> {
        if !presigned {
            self.signer.sign_reqwest(&mut req)?;
        }
        match self.http.execute(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if idempotent && matches!(status, 502 | 503) && self.endpoints.len() > 1 {
                    return Ok(Attempt::Retry(format!("it answered {}", resp.status())));
                }
                Ok(Attempt::Answered(resp))
            }
            Err(e) if e.is_connect() || idempotent => Ok(Attempt::Retry(chain(&e))),
            Err(e) => Ok(Attempt::Failed(anyhow::Error::new(e).context(
                "the connection broke before the server answered; the request may or may not have been applied, so it is not sent again",
            ))),
        }
    }

    fn next(&self, at: &Current, why: &str) {
        let next = self.endpoints.failed(at);
        if next.index != at.index {
            tracing::debug!(endpoint = %at.url, next = %next.url, "no answer ({why}); trying the next endpoint");
        }
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
        let body = body.to_string();
        let build = |endpoint: &str| {
            let mut req = self
                .http
                .post(format!("{endpoint}/"))
                .header("Content-Type", gantry_api::CONTENT_TYPE)
                .header("X-Amz-Target", target)
                .body(body.clone())
                .build()
                .context("building the request")?;
            // Signed here for another service; `attempt` signs the others for `ecs`.
            if let Some(svc) = service {
                self.signer
                    .clone()
                    .with_service(svc)
                    .sign_reqwest(&mut req)?;
            }
            Ok(req)
        };
        let resp = self
            .execute(idempotent(target), service.is_some(), build)
            .await?;
        let status = resp.status();
        let text = resp.text().await.context("reading the API response")?;
        if status.is_success() {
            return serde_json::from_str(&text).context("the API answered with invalid JSON");
        }
        Err(api_error(status, &text))
    }

    /// A signed `GET` of `url` (e.g. `<endpoint>/gantry/v1/logs?task=…`) that must succeed;
    /// the body is left to stream. A URL on one of the endpoints is sent to the others
    /// (same path and query) when that one does not answer.
    pub async fn get(&self, url: reqwest::Url) -> anyhow::Result<reqwest::Response> {
        let on_endpoint = self
            .endpoints
            .urls()
            .iter()
            .any(|e| url.as_str().starts_with(&format!("{e}/")));
        let build = |endpoint: &str| {
            let target = if on_endpoint {
                rebase(&url, endpoint)?
            } else {
                url.clone()
            };
            self.http
                .get(target)
                .build()
                .context("building the request")
        };
        let resp = self.execute(true, false, build).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(api_error(status, &text))
    }
}

/// `url` with the scheme, host and port of `endpoint`.
fn rebase(url: &reqwest::Url, endpoint: &str) -> anyhow::Result<reqwest::Url> {
    let base = reqwest::Url::parse(endpoint).with_context(|| format!("{endpoint} is not a URL"))?;
    let mut out = base.clone();
    out.set_path(url.path());
    out.set_query(url.query());
    Ok(out)
}

/// An error with its causes (reqwest's own text names only the first).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `<Exception>: <message>` of an AWS JSON error body, else the status and the text.
fn api_error(status: reqwest::StatusCode, text: &str) -> anyhow::Error {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(e) => match crate::hints::hint(&e.kind, &e.message) {
            Some(h) => anyhow!("{}: {} ({h})", e.kind, e.message),
            None => anyhow!("{}: {}", e.kind, e.message),
        },
        Err(_) => anyhow!("the API answered {status}: {text}"),
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
