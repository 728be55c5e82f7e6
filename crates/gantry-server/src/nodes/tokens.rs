//! Cluster join tokens: `<id>.<secret>`, made by the operator (`gantry token create`), good
//! for `registration_limit` hosts until they expire. The store keeps only the secret's
//! SHA-256; the token is shown once, when it is made.

use gantry_api::{ApiError, ErrorKind, Timestamp};
use gantry_store::Store;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use super::records::{token_key, JoinTokenRecord, TOKEN_PREFIX};
use crate::auth::dates::rfc3339;
use crate::error::{Error, Result};
use crate::persistence::db::{self, Versioned};
use crate::state::AppState;

/// The id part: 16 hex digits.
const ID_LEN: usize = 16;
/// The secret part: 32 alphanumerics, about 190 bits.
const SECRET_LEN: usize = 32;

/// A token just made: the only time its secret exists outside the host that will use it.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub record: JoinTokenRecord,
    /// `<id>.<secret>`.
    pub token: String,
}

/// Makes a token for `cluster`, valid `ttl_secs` from now for `limit` registrations.
pub async fn create<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    ttl_secs: i64,
    limit: u32,
) -> Result<NewToken> {
    let id = hex::encode(rand::random::<[u8; ID_LEN / 2]>());
    let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
    let now = st.clock.now();
    #[allow(clippy::cast_precision_loss)]
    let record = JoinTokenRecord {
        id: id.clone(),
        secret_sha256: sha256_hex(&secret),
        cluster: cluster.to_string(),
        created_at: now,
        expires_at: now.floor() + ttl_secs as f64,
        registration_limit: limit,
        registrations_count: 0,
    };
    let key = token_key(&id);
    // A fresh random id never exists; the compare makes a collision an error, not an
    // overwrite.
    let ok = db::commit(
        &st.store,
        vec![db::unchanged(&key, 0)],
        vec![db::put(&key, &record)?],
    )
    .await?;
    if !ok {
        return Err(Error::Contention {
            what: format!("join token {id}"),
        });
    }
    Ok(NewToken {
        record,
        token: format!("{id}.{secret}"),
    })
}

pub async fn list<S: Store>(st: &AppState<S>) -> Result<Vec<JoinTokenRecord>> {
    Ok(db::list::<S, JoinTokenRecord>(&st.store, TOKEN_PREFIX)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

pub async fn get<S: Store>(
    st: &AppState<S>,
    id: &str,
) -> Result<Option<Versioned<JoinTokenRecord>>> {
    if !is_id(id) {
        return Ok(None);
    }
    db::get::<S, JoinTokenRecord>(&st.store, &token_key(id)).await
}

/// Deletes token `id`; hosts already joined with it keep their identity.
pub async fn delete<S: Store>(st: &AppState<S>, id: &str) -> Result<()> {
    let Some(t) = get(st, id).await? else {
        return Err(not_found(id));
    };
    let ok = db::commit(
        &st.store,
        vec![db::unchanged(&t.key, t.revision)],
        vec![gantry_store::Op::Delete { key: t.key.clone() }],
    )
    .await?;
    if !ok {
        return Err(Error::Contention {
            what: format!("join token {id}"),
        });
    }
    Ok(())
}

pub fn not_found(id: &str) -> Error {
    Error::Api(ApiError::new(
        ErrorKind::ResourceNotFound,
        format!("Join token {id} does not exist."),
    ))
}

/// Checks `token` for a host joining `cluster` at `now` and says which token it is, with
/// the revision to compare when counting the registration. Every failure says which check
/// failed, never the secret.
pub async fn check<S: Store>(
    st: &AppState<S>,
    token: &str,
    cluster: &str,
    now: Timestamp,
) -> Result<Versioned<JoinTokenRecord>> {
    let refuse = |m: String| Error::Api(ApiError::invalid_parameter(m));
    let Some((id, secret)) = token
        .split_once('.')
        .filter(|(id, s)| is_id(id) && !s.is_empty())
    else {
        return Err(refuse(
            "The join token is malformed: a join token is <16 hex digits>.<secret>, as `gantry token create` prints it.".into(),
        ));
    };
    let Some(t) = get(st, id).await? else {
        return Err(refuse(format!(
            "The join token {id} does not exist (it was deleted, or was made by another server): create a new one with `gantry token create`."
        )));
    };
    if !same(
        sha256_hex(secret).as_bytes(),
        t.value.secret_sha256.as_bytes(),
    ) {
        return Err(refuse(format!(
            "The join token {id} does not match: its secret is wrong. Copy the whole token `gantry token create` printed."
        )));
    }
    if now >= t.value.expires_at {
        #[allow(clippy::cast_possible_truncation)]
        let at = rfc3339(t.value.expires_at as i64);
        return Err(refuse(format!(
            "The join token {id} expired at {at}: create a new one with `gantry token create`."
        )));
    }
    if t.value.registrations_count >= t.value.registration_limit {
        return Err(refuse(format!(
            "The join token {id} has reached its registration limit of {}: create a new one with `gantry token create --limit N`.",
            t.value.registration_limit
        )));
    }
    if t.value.cluster != cluster {
        return Err(refuse(format!(
            "The join token {id} is for cluster {}, not {cluster}: join with --cluster {} or use a token made for {cluster}.",
            t.value.cluster, t.value.cluster
        )));
    }
    Ok(t)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares two secrets in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_compares() {
        assert!(is_id("0123456789abcdef"));
        assert!(!is_id("0123456789abcdeg"));
        assert!(!is_id("0123"));
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
