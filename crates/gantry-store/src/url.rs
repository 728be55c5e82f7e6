//! Where the store is, as `--store` spells it: `sqlite://PATH` or
//! `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

const USAGE: &str = "use sqlite://PATH or etcd://HOST:PORT[,HOST:PORT...][/PREFIX]";

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH`: `sqlite:///var/lib/gantry/store.db` is an absolute path,
    /// `sqlite://store.db` a relative one.
    Sqlite(PathBuf),
    /// `etcd://h1:2379,h2:2379/prefix`: the members' client addresses, and the key prefix
    /// when the URL names one (`/prefix/`; otherwise [`EtcdOptions::prefix`]).
    ///
    /// [`EtcdOptions::prefix`]: crate::EtcdOptions::prefix
    Etcd {
        endpoints: Vec<String>,
        prefix: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    #[error("the store URL {url:?} has no kind: {USAGE}")]
    NoScheme { url: String },
    #[error("unknown store kind {kind:?} in {url:?}: {USAGE}")]
    UnknownKind { kind: String, url: String },
    #[error("the store URL {url:?} names no file: {USAGE}")]
    NoPath { url: String },
    #[error("the store URL {url:?} names no etcd endpoint: {USAGE}")]
    NoEndpoint { url: String },
    #[error(
        "the etcd endpoint {endpoint:?} in {url:?} is not HOST:PORT with a port from 1 to 65535"
    )]
    BadEndpoint { endpoint: String, url: String },
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreUrlError> {
        url.parse()
    }

    /// `"sqlite"` or `"etcd"`, as [`Store::kind`](crate::Store::kind) says.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreUrl::Sqlite(_) => "sqlite",
            StoreUrl::Etcd { .. } => "etcd",
        }
    }
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(url: &str) -> Result<StoreUrl, StoreUrlError> {
        let owned = || url.to_string();
        let Some((kind, rest)) = url.split_once("://") else {
            return Err(StoreUrlError::NoScheme { url: owned() });
        };
        match kind {
            "sqlite" => {
                if rest.is_empty() {
                    return Err(StoreUrlError::NoPath { url: owned() });
                }
                Ok(StoreUrl::Sqlite(PathBuf::from(rest)))
            }
            "etcd" => {
                let (hosts, prefix) = match rest.split_once('/') {
                    Some((hosts, "")) => (hosts, None),
                    Some((hosts, prefix)) => {
                        let prefix = prefix.trim_end_matches('/');
                        (hosts, Some(format!("/{prefix}/")))
                    }
                    None => (rest, None),
                };
                let endpoints: Vec<String> = hosts
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .collect();
                if endpoints.is_empty() {
                    return Err(StoreUrlError::NoEndpoint { url: owned() });
                }
                for endpoint in &endpoints {
                    let valid = endpoint.rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                    });
                    if !valid {
                        return Err(StoreUrlError::BadEndpoint {
                            endpoint: endpoint.clone(),
                            url: owned(),
                        });
                    }
                }
                Ok(StoreUrl::Etcd { endpoints, prefix })
            }
            other => Err(StoreUrlError::UnknownKind {
                kind: other.to_string(),
                url: owned(),
            }),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StoreUrl::Etcd { endpoints, prefix } => {
                write!(f, "etcd://{}", endpoints.join(","))?;
                if let Some(prefix) = prefix {
                    write!(f, "{}", prefix.trim_end_matches('/'))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/gantry/store.db"),
            Ok(StoreUrl::Sqlite("/var/lib/gantry/store.db".into()))
        );
        assert_eq!(
            StoreUrl::parse("etcd://h1:2379, h2:2379,10.0.0.3:2379"),
            Ok(StoreUrl::Etcd {
                endpoints: vec!["h1:2379".into(), "h2:2379".into(), "10.0.0.3:2379".into()],
                prefix: None
            })
        );
        let url = StoreUrl::parse("etcd://h1:2379/prod/gantry/").expect("parse");
        assert_eq!(
            url,
            StoreUrl::Etcd {
                endpoints: vec!["h1:2379".into()],
                prefix: Some("/prod/gantry/".into())
            }
        );
        assert_eq!(url.to_string(), "etcd://h1:2379/prod/gantry");
        assert_eq!(StoreUrl::parse(&url.to_string()), Ok(url));
    }

    #[test]
    fn refuses_with_what_to_write() {
        let e = StoreUrl::parse("mysql://db").expect_err("unknown kind");
        assert!(
            e.to_string().contains("unknown store kind \"mysql\""),
            "{e}"
        );
        assert!(e.to_string().contains("etcd://HOST:PORT"), "{e}");
        assert!(matches!(
            StoreUrl::parse("etcd://"),
            Err(StoreUrlError::NoEndpoint { .. })
        ));
        assert!(matches!(
            StoreUrl::parse("etcd://,/x"),
            Err(StoreUrlError::NoEndpoint { .. })
        ));
        assert!(matches!(
            StoreUrl::parse("etcd://h1"),
            Err(StoreUrlError::BadEndpoint { .. })
        ));
        assert!(matches!(
            StoreUrl::parse("etcd://h1:0"),
            Err(StoreUrlError::BadEndpoint { .. })
        ));
        assert!(matches!(
            StoreUrl::parse("etcd://:2379"),
            Err(StoreUrlError::BadEndpoint { .. })
        ));
        assert!(matches!(
            StoreUrl::parse("sqlite://"),
            Err(StoreUrlError::NoPath { .. })
        ));
        assert!(matches!(
            StoreUrl::parse("/var/lib/x.db"),
            Err(StoreUrlError::NoScheme { .. })
        ));
    }
}
