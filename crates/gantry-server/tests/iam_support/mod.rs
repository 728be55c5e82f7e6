//! IAM and STS over the query protocol against an in-process server whose administrator
//! key is known, and a few XML readers for the answers.
#![allow(dead_code)]

use gantry_server::AccessKeyPair;

use crate::common::Server;

pub const ADMIN_ID: &str = "AKIAGANTRYADMINTEST7";
pub const ADMIN_SECRET: &str = "gantry/admin/secret/for/tests/0123456789";

pub async fn start() -> Server {
    let mut s = Server::start_with(|c| {
        c.admin_key = Some(AccessKeyPair {
            access_key_id: ADMIN_ID.into(),
            secret_access_key: ADMIN_SECRET.into(),
        });
    })
    .await;
    s.key = crate::common::sign::Key {
        access_key_id: ADMIN_ID.into(),
        secret: ADMIN_SECRET.into(),
        session_token: None,
    };
    s
}

/// An answer: status and XML body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

impl Answer {
    /// The text of the first `<tag>`.
    pub fn get(&self, tag: &str) -> Option<String> {
        self.all(tag).into_iter().next()
    }
    /// The texts of every `<tag>…</tag>`, in order.
    pub fn all(&self, tag: &str) -> Vec<String> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let mut out = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(i) = rest.find(&open) {
            rest = &rest[i + open.len()..];
            let Some(j) = rest.find(&close) else { break };
            out.push(unescape(&rest[..j]));
            rest = &rest[j + close.len()..];
        }
        out
    }
    pub fn code(&self) -> String {
        self.get("Code").unwrap_or_default()
    }
    /// Expects success.
    pub fn ok(self) -> Self {
        assert_eq!(self.status, 200, "{}", self.body);
        self
    }
    /// Expects the error `code` with `status`.
    pub fn err(self, status: u16, code: &str) -> Self {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.body
        );
        assert!(
            self.body.starts_with("<ErrorResponse><Error><Type>"),
            "{}",
            self.body
        );
        self
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The inverse of IAM's URL-encoding of policy documents.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// `Action=<action>` of `service` (`iam`, `sts`) with `params`, as the key `key_id`.
pub async fn call_as(
    s: &Server,
    service: &str,
    key_id: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Answer {
    let version = if service == "sts" {
        "2011-06-15"
    } else {
        "2010-05-08"
    };
    let mut body = format!("Action={action}&Version={version}");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", encode(k), encode(v)));
    }
    // The client holds its key's secret (and session token); the test reads them from the
    // server's store instead of threading them through every call. An unknown key signs with
    // a made-up secret, as a client with a stale key would.
    let known = gantry_server::iam::identity::by_access_key(&s.state, key_id)
        .await
        .unwrap();
    let key = crate::common::sign::Key {
        access_key_id: key_id.to_string(),
        secret: known
            .as_ref()
            .map_or_else(|| "unknown-secret".to_string(), |k| k.secret.clone()),
        session_token: known.and_then(|k| k.session_token),
    };
    let resp = sign_and_post(s, &key, service, body).await;
    let status = resp.status().as_u16();
    Answer {
        status,
        body: resp.text().await.unwrap(),
    }
}

async fn sign_and_post(
    s: &Server,
    key: &crate::common::sign::Key,
    service: &str,
    body: String,
) -> reqwest::Response {
    let url = format!("{}/", s.url());
    let ct = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let signed = crate::common::sign::headers(
        key,
        "POST",
        &url,
        &ct,
        body.as_bytes(),
        service,
        crate::common::sign::REGION,
        s.now(),
    );
    let mut rb = reqwest::Client::new().post(&url).header(ct[0].0, ct[0].1);
    for (k, v) in signed {
        rb = rb.header(k, v);
    }
    rb.body(body).send().await.unwrap()
}

/// An IAM call as the administrator.
pub async fn iam(s: &Server, action: &str, params: &[(&str, &str)]) -> Answer {
    call_as(s, "iam", ADMIN_ID, action, params).await
}

pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
