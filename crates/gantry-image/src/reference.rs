//! Docker image references: `[domain[:port]/]path[:tag][@digest]`.
//!
//! The grammar is distribution's `reference` package; normalisation follows Docker
//! (`busybox` is `docker.io/library/busybox:latest`).

use std::fmt;

pub(crate) const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// `docker.io`, `127.0.0.1:5000`, `[::1]:5000`, ...
    pub registry: String,
    /// `library/busybox`, `team/app`, ...
    pub repository: String,
    /// `None` only when a digest is given without a tag.
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("image reference is empty".into());
        }
        if s.len() > 512 {
            return Err("image reference is longer than 512 characters".into());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest)?;
                (rest, Some(digest.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that comes after the last '/'; a ':' before it is a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                check_tag(tag)?;
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(format!("image reference {s:?} has no repository name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "repository name must not be longer than {MAX_NAME_LEN} characters"
            ));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if looks_like_domain(first) => {
                check_domain(first)?;
                (first.to_string(), path)
            }
            _ => (DEFAULT_REGISTRY.to_string(), name),
        };
        for component in path.split('/') {
            check_path_component(component).map_err(|e| format!("invalid reference {s:?}: {e}"))?;
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The last path component: what an OCI layout directory is named after.
    pub(crate) fn short_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(self.repository.as_str())
    }

    /// Host part of the registry, without port or brackets.
    pub(crate) fn registry_host(&self) -> &str {
        let r = self.registry.as_str();
        if let Some(inner) = r.strip_prefix('[') {
            return inner.split(']').next().unwrap_or(inner);
        }
        r.split(':').next().unwrap_or(r)
    }

    pub(crate) fn to_oci(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone(),
                digest.clone(),
            ),
            (_, Some(digest)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.clone(),
            ),
            (tag, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string()),
            ),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Checks `s` against the Docker reference grammar (`name[:tag][@digest]`).
///
/// The error says what is wrong, in words fit for an `InvalidParameterException`.
pub fn validate_reference(s: &str) -> Result<(), String> {
    ImageRef::parse(s).map(|_| ())
}

fn looks_like_domain(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.starts_with('[')
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || format!("invalid registry host {domain:?}");
    let (host, port) = if let Some(inner) = domain.strip_prefix('[') {
        let (ip, after) = inner.split_once(']').ok_or_else(bad)?;
        ip.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        for label in host.split('.') {
            let ok = !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad());
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) || port.len() > 5 {
            return Err(format!("invalid port in registry host {domain:?}"));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn check_path_component(c: &str) -> Result<(), String> {
    let err = || {
        format!(
            "repository name component {c:?} must be lowercase letters and digits, \
             separated by '.', '_', '__' or dashes"
        )
    };
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(err());
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(err());
        }
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = matches!(chars.next(), Some(c) if word(c))
        && chars.all(|c| word(c) || c == '.' || c == '-')
        && tag.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag {tag:?}: a tag is up to 128 letters, digits, '_', '.' or '-', \
             not starting with '.' or '-'"
        ))
    }
}

/// `algorithm:hex`; only sha256 is accepted because it is the only one we can verify.
fn check_digest(d: &str) -> Result<(), String> {
    match d.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            if hex.bytes().any(|b| b.is_ascii_uppercase()) {
                Err(format!("invalid digest {d:?}: hex must be lowercase"))
            } else {
                Ok(())
            }
        }
        Some((alg, _)) if alg != "sha256" => Err(format!(
            "unsupported digest algorithm {alg:?}: only sha256 digests are supported"
        )),
        _ => Err(format!(
            "invalid digest {d:?}: expected sha256: followed by 64 hex characters"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:c146121f30f38352a8bcb48f02bb3b9d90c1145f70c4c22d9ca953449854d76d";

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_docker_hub_names() {
        let r = p("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.short_name(), "busybox");
        assert_eq!(p("team/app:1.0").to_string(), "docker.io/team/app:1.0");
        assert_eq!(
            p("docker.io/library/busybox:latest"),
            p("busybox:latest"),
            "explicit and implicit docker.io agree"
        );
    }

    #[test]
    fn parses_registries_ports_tags_digests() {
        let r = p("127.0.0.1:5000/busybox:nope");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.registry_host(), "127.0.0.1");
        assert_eq!(r.repository, "busybox");
        assert_eq!(r.tag.as_deref(), Some("nope"));
        let r = p("localhost:5000/a/b/c");
        assert_eq!(r.repository, "a/b/c");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.short_name(), "c");
        let r = p(&format!("gantry.local/busybox@{D}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        let r = p(&format!("[::1]:5000/x:y@{D}"));
        assert_eq!(r.registry_host(), "::1");
        assert_eq!(r.tag.as_deref(), Some("y"));
        assert_eq!(p("localhost/x").registry, "localhost");
        assert_eq!(
            p("my-registry.example.com:443/a_b/c__d/e-f--g:v1.2_3-rc")
                .tag
                .as_deref(),
            Some("v1.2_3-rc")
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox@sha256:abc",
            "busybox@md5:0123456789abcdef0123456789abcdef",
            "/busybox",
            "busybox/",
            "a//b",
            "a/-b",
            "a/b-",
            "a/b..c",
            "a/b___c",
            "bad host!/x",
            "host:port/x",
            "[::1/x",
            "busybox latest",
            "busybox:../../etc",
            &"a".repeat(256),
            &format!("busybox:{}", "t".repeat(129)),
        ] {
            assert!(validate_reference(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
