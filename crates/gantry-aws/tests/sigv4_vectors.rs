//! The official SigV4 test suite (tests/vectors, see its README): every signed request must
//! verify, with our canonical request and string to sign equal to the suite's.
//!
//! Cases with `"normalize": false` are S3's flavour (no path normalisation); Gantry serves no
//! S3, so they only apply where the path needs no normalising. `post-sts-header-after`'s
//! query form adds the token after signing and leaves it out of the canonical query, which a
//! server cannot know; its header form still applies.

use std::fs;
use std::path::{Path, PathBuf};

use gantry_aws::sigv4::{self, parse_basic, Expect, Request};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Parsed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads a request as the suite writes it: request line, `Name:value` lines (a line that
/// starts with a space continues the previous value, as obsolete line folding does; an HTTP
/// server unfolds it to a single space), a blank line, the body.
fn parse_http(text: &[u8]) -> Parsed {
    let split = text.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&text[..i], text[i + 2..].to_vec()),
        None => (text, Vec::new()),
    };
    let head = String::from_utf8(head.to_vec()).unwrap();
    let mut lines = head.lines();
    let line = lines.next().unwrap();
    let line = line.strip_suffix(" HTTP/1.1").unwrap_or(line);
    let (method, target) = line.split_once(' ').unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines {
        if l.starts_with(' ') || l.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(l.trim());
        } else {
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_owned(), v.to_owned()));
        }
    }
    Parsed {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body,
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v4")
}

struct Context {
    region: String,
    service: String,
    now: i64,
    normalize: bool,
    token: Option<String>,
}

fn context(case: &Path) -> Option<Context> {
    let text = fs::read_to_string(case.join("context.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ts = v["timestamp"].as_str().unwrap().replace(['-', ':'], "");
    Some(Context {
        region: v["region"].as_str().unwrap().to_owned(),
        service: v["service"].as_str().unwrap().to_owned(),
        now: parse_basic(&ts).unwrap(),
        normalize: v["normalize"].as_bool().unwrap_or(true),
        token: v["credentials"]["token"].as_str().map(str::to_owned),
    })
}

/// Checks one signed request of a case; returns false when the case does not apply.
fn check(case: &Path, form: &str, ctx: &Context) -> bool {
    let name = case.file_name().unwrap().to_str().unwrap();
    let Ok(signed) = fs::read(case.join(format!("{form}-signed-request.txt"))) else {
        return false;
    };
    let p = parse_http(&signed);
    let headers: Vec<(&str, &str)> = p
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = Request {
        method: &p.method,
        path: &p.path,
        query: &p.query,
        headers: &headers,
        body: &p.body,
    };
    let claim = sigv4::parse(&req).unwrap_or_else(|e| panic!("{name} {form}: parse: {e}"));
    let expected_creq =
        fs::read_to_string(case.join(format!("{form}-canonical-request.txt"))).unwrap();
    let creq = sigv4::canonical_request(&req, &claim);
    if !ctx.normalize && creq != expected_creq {
        // S3's flavour on a path that normalising changes: not what Gantry's services do.
        return false;
    }
    if name == "post-sts-header-after" && form == "query" {
        return false;
    }
    assert_eq!(creq, expected_creq, "{name} {form}: canonical request");
    if let Ok(sts) = fs::read_to_string(case.join(format!("{form}-string-to-sign.txt"))) {
        assert_eq!(
            sigv4::string_to_sign(&req, &claim),
            sts,
            "{name} {form}: string to sign"
        );
    }
    assert_eq!(
        claim.security_token.is_some(),
        ctx.token.is_some(),
        "{name} {form}: token"
    );
    if let Some(t) = &ctx.token {
        assert_eq!(
            claim.security_token.as_deref(),
            Some(t.as_str()),
            "{name} {form}"
        );
    }
    let expect = Expect {
        now: ctx.now,
        region: &ctx.region,
        service: &ctx.service,
    };
    sigv4::verify(&req, &claim, SECRET, &expect)
        .unwrap_or_else(|e| panic!("{name} {form}: verify: {e}"));
    // And a wrong secret must not.
    assert!(
        sigv4::verify(&req, &claim, "wrong", &expect).is_err(),
        "{name} {form}"
    );
    true
}

#[test]
fn every_applicable_vector_verifies() {
    let mut cases: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let (mut checked, mut skipped) = (Vec::new(), Vec::new());
    for case in &cases {
        let Some(ctx) = context(case) else { continue };
        for form in ["header", "query"] {
            let label = format!("{} {form}", case.file_name().unwrap().to_string_lossy());
            if check(case, form, &ctx) {
                checked.push(label);
            } else {
                skipped.push(label);
            }
        }
    }
    eprintln!(
        "checked {}: {checked:?}\nskipped {}: {skipped:?}",
        checked.len(),
        skipped.len()
    );
    // 38 cases with a context, two forms each: all but the 6 S3-only (unnormalised-path)
    // cases and the token-after-signing query form.
    assert_eq!(checked.len(), 63, "vectors applied");
}

/// `double-url-encode` (Lambda's path with encoded colons) has no context file: its scope
/// names the region, service and day.
#[test]
fn double_url_encoded_path_verifies() {
    let case = dir().join("double-url-encode");
    let p = parse_http(&fs::read(case.join("header-signed-request.txt")).unwrap());
    let headers: Vec<(&str, &str)> = p
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = Request {
        method: &p.method,
        path: &p.path,
        query: &p.query,
        headers: &headers,
        body: &p.body,
    };
    let claim = sigv4::parse(&req).unwrap();
    assert_eq!(
        sigv4::canonical_request(&req, &claim),
        fs::read_to_string(case.join("header-canonical-request.txt")).unwrap()
    );
    let expect = Expect {
        now: parse_basic("20210511T154045Z").unwrap(),
        region: "us-east-2",
        service: "lambda",
    };
    sigv4::verify(&req, &claim, SECRET, &expect).unwrap();
}

/// `double-encode-path`'s files disagree on the date, so only its canonical path applies.
#[test]
fn double_encoded_path_canonical_uri() {
    let case = dir().join("double-encode-path");
    let p = parse_http(&fs::read(case.join("header-signed-request.txt")).unwrap());
    let headers: Vec<(&str, &str)> = p
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = Request {
        method: &p.method,
        path: &p.path,
        query: &p.query,
        headers: &headers,
        body: &p.body,
    };
    let claim = sigv4::parse(&req).unwrap();
    let ours = sigv4::canonical_request(&req, &claim);
    let theirs = fs::read_to_string(case.join("header-canonical-request.txt")).unwrap();
    assert_eq!(ours.lines().nth(1), theirs.lines().nth(1));
}
