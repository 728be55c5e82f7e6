//! The several addresses of one control plane (`--server https://a:8443,https://b:8443`):
//! which one an agent talks to now, the move to the next when that one fails, and the
//! backoff between attempts.
//!
//! Every replica of a cluster serves the whole agent gateway from one store with one cluster
//! CA, so any address accepts the same node credential and sends the same desired set: a
//! failover is only a change of address. The current address is shared by everything that
//! dials (registration, rotation, the session), so one failure moves them all, and a
//! failure seen by two callers at once moves it once ([`Servers::failed`] compares the
//! address it failed on).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a list of server addresses is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServersError {
    #[error("no server address given (--server wants a URL, or several separated by commas)")]
    Empty,
    #[error("server address {0:?} is not a URL (http://host:port or https://host:port)")]
    BadUrl(String),
    #[error("the server addresses mix http and https ({0} and {1}): the replicas of one cluster are all plain or all TLS with the one cluster CA")]
    MixedSchemes(String, String),
}

/// One address of the list, with its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub index: usize,
    pub url: String,
}

#[derive(Debug)]
struct Inner {
    urls: Vec<String>,
    current: AtomicUsize,
}

/// The addresses of one control plane and the one in use. Cheap to clone; clones share the
/// current address.
#[derive(Debug, Clone)]
pub struct Servers(Arc<Inner>);

impl Servers {
    /// `a,b,c` (spaces around commas allowed, a trailing `/` dropped, repeats dropped).
    /// A bare `host:port` is taken as `http://host:port`, as a single `--server` always was.
    pub fn parse(list: &str) -> Result<Self, ServersError> {
        let mut urls: Vec<String> = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let url = raw.trim_end_matches('/').to_string();
            let with_scheme = if url.contains("://") {
                url.clone()
            } else {
                format!("http://{url}")
            };
            let parsed = reqwest::Url::parse(&with_scheme)
                .map_err(|_| ServersError::BadUrl(raw.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ServersError::BadUrl(raw.to_string()));
            }
            if !urls.contains(&with_scheme) {
                urls.push(with_scheme);
            }
        }
        let Some(first) = urls.first() else {
            return Err(ServersError::Empty);
        };
        let tls = |u: &str| u.starts_with("https://");
        if let Some(other) = urls.iter().find(|u| tls(u) != tls(first)) {
            return Err(ServersError::MixedSchemes(first.clone(), other.clone()));
        }
        Ok(Self::from_urls(urls))
    }

    /// Exactly one address, taken as given (what [`crate::Link::new`] wraps).
    pub fn one(url: &str) -> Self {
        Self::from_urls(vec![url.trim_end_matches('/').to_string()])
    }

    fn from_urls(urls: Vec<String>) -> Self {
        Self(Arc::new(Inner {
            urls,
            current: AtomicUsize::new(0),
        }))
    }

    /// The same addresses with an address in use of their own, the `n`-th (modulo their
    /// count): many sessions from one process (`gantry sim-agents`) spread over the replicas
    /// and each fails over on its own.
    pub fn starting_at(&self, n: usize) -> Self {
        let s = Self::from_urls(self.0.urls.clone());
        s.0.current
            .store(n % self.0.urls.len().max(1), Ordering::Release);
        s
    }

    /// The address in use.
    pub fn current(&self) -> Current {
        let index = self.0.current.load(Ordering::Acquire) % self.0.urls.len();
        Current {
            index,
            url: self.0.urls[index].clone(),
        }
    }

    /// The address in use now, as a URL.
    pub fn current_url(&self) -> String {
        self.current().url
    }

    /// Every address, in the order given.
    pub fn urls(&self) -> &[String] {
        &self.0.urls
    }

    pub fn len(&self) -> usize {
        self.0.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.urls.is_empty()
    }

    /// Whether all addresses are `https` (then a CA pin or bundle applies to every one).
    pub fn is_tls(&self) -> bool {
        self.0.urls.iter().all(|u| u.starts_with("https://"))
    }

    /// The address `failed` (as [`Servers::current`] returned it) could not be used: moves
    /// on to the next one, unless another caller has moved on already. Returns the address
    /// in use afterwards.
    pub fn failed(&self, failed: &Current) -> Current {
        let n = self.0.urls.len();
        let _ = self.0.current.compare_exchange(
            failed.index,
            (failed.index + 1) % n,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.current()
    }

    /// The list as a `--server` value (`a,b,c`).
    pub fn flag_value(&self) -> String {
        self.0.urls.join(",")
    }
}

impl std::fmt::Display for Servers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.flag_value())
    }
}

/// The waits between attempts over `n` addresses: the next address is tried after `min`
/// while some address of this round has not failed yet; once all of them have, the wait
/// doubles from `min` up to `max`, once per round. With one address this is the plain
/// doubling backoff. A success resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    addresses: usize,
    failures: usize,
    delay: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration, addresses: usize) -> Self {
        Self {
            min,
            max: max.max(min),
            addresses: addresses.max(1),
            failures: 0,
            delay: min,
        }
    }

    /// One more attempt failed: how long to wait before the next (un-jittered).
    pub fn failed(&mut self) -> Duration {
        self.failures += 1;
        if self.failures % self.addresses != 0 {
            return self.min;
        }
        let wait = self.delay;
        self.delay = (self.delay * 2).min(self.max);
        wait
    }

    /// An attempt succeeded: the next failure starts over.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.delay = self.min;
    }
}

#[cfg(test)]
#[path = "servers_tests.rs"]
mod tests;
