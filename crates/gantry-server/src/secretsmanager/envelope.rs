//! Envelope encryption of secret values: each version's value is sealed with AES-256-GCM
//! under a data key of its own, drawn at random for it; the data key is sealed (wrapped)
//! under the ring's current master key ([`super::keyring`]) and stored beside the value
//! with the master key's id. The store so holds only ciphertext; re-wrapping a data key
//! under a new master key ([`rewrap`]) leaves the value's ciphertext untouched.
//!
//! Both seals are bound, as associated data, to the secret's ARN and the version id (and the
//! value to its kind, string or binary): a sealed value moved onto another secret or version
//! does not open.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::keyring::{KeyRing, KeyRingError};

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Ring(#[from] KeyRingError),
    #[error("the master key {0} that wrapped this value's data key is not in the master key ring")]
    UnknownMasterKey(String),
    #[error("a stored secret value does not decrypt: the master key is not the one it was wrapped with, or the record is damaged")]
    Open,
    #[error("could not encrypt a secret value")]
    Seal,
}

/// A value as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    /// The master key its data key is wrapped with.
    pub master_key_id: String,
    /// base64(nonce ‖ AES-256-GCM(data key)).
    pub wrapped_key: String,
    /// base64(nonce ‖ AES-256-GCM(value)).
    pub ciphertext: String,
    /// SecretBinary (else SecretString).
    pub binary: bool,
}

/// A plaintext value; never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum Plain {
    String(String),
    Binary(Vec<u8>),
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::String(_) => "Plain::String(..)",
            Self::Binary(_) => "Plain::Binary(..)",
        })
    }
}

impl Plain {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::String(s) => s.as_bytes(),
            Self::Binary(b) => b,
        }
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn key(bytes: &[u8; 32]) -> Result<LessSafeKey, EnvelopeError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| EnvelopeError::Seal)
}

fn seal_with(k: &[u8; 32], aad: &str, msg: &[u8]) -> Result<String, EnvelopeError> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| EnvelopeError::Seal)?;
    let mut buf = msg.to_vec();
    key(k)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .map_err(|_| EnvelopeError::Seal)?;
    let mut out = nonce.to_vec();
    out.extend(buf);
    Ok(b64().encode(out))
}

fn open_with(k: &[u8; 32], aad: &str, sealed: &str) -> Result<Vec<u8>, EnvelopeError> {
    let bytes = b64().decode(sealed).map_err(|_| EnvelopeError::Open)?;
    if bytes.len() < NONCE_LEN {
        return Err(EnvelopeError::Open);
    }
    let (nonce, ct) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| EnvelopeError::Open)?;
    let mut buf = ct.to_vec();
    let plain = key(k)?
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| EnvelopeError::Open)?;
    Ok(plain.to_vec())
}

fn key_aad(arn: &str, version: &str) -> String {
    format!("gantry-sm-data-key\0{arn}\0{version}")
}

fn value_aad(arn: &str, version: &str, binary: bool) -> String {
    let kind = if binary { "binary" } else { "string" };
    format!("gantry-sm-value\0{arn}\0{version}\0{kind}")
}

/// Seals `value` of version `version` of secret `arn` under a fresh data key.
pub fn seal(
    ring: &KeyRing,
    arn: &str,
    version: &str,
    value: &Plain,
) -> Result<Sealed, EnvelopeError> {
    let master = ring.current()?;
    let mut data_key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut data_key).map_err(|_| EnvelopeError::Seal)?;
    let binary = matches!(value, Plain::Binary(_));
    let ciphertext = seal_with(&data_key, &value_aad(arn, version, binary), value.bytes())?;
    let wrapped_key = seal_with(&master.key, &key_aad(arn, version), &data_key)?;
    data_key.fill(0);
    Ok(Sealed {
        master_key_id: master.id,
        wrapped_key,
        ciphertext,
        binary,
    })
}

fn data_key(
    ring: &KeyRing,
    arn: &str,
    version: &str,
    s: &Sealed,
) -> Result<[u8; 32], EnvelopeError> {
    let master = ring
        .get(&s.master_key_id)?
        .ok_or_else(|| EnvelopeError::UnknownMasterKey(s.master_key_id.clone()))?;
    let dk = open_with(&master.key, &key_aad(arn, version), &s.wrapped_key)?;
    <[u8; 32]>::try_from(dk.as_slice()).map_err(|_| EnvelopeError::Open)
}

/// The plaintext of `s`.
pub fn open(ring: &KeyRing, arn: &str, version: &str, s: &Sealed) -> Result<Plain, EnvelopeError> {
    let mut dk = data_key(ring, arn, version, s)?;
    let plain = open_with(&dk, &value_aad(arn, version, s.binary), &s.ciphertext);
    dk.fill(0);
    let plain = plain?;
    if s.binary {
        Ok(Plain::Binary(plain))
    } else {
        String::from_utf8(plain)
            .map(Plain::String)
            .map_err(|_| EnvelopeError::Open)
    }
}

/// `s` with its data key wrapped under the ring's current master key (the value's ciphertext
/// unchanged), or `None` when it already is.
pub fn rewrap(
    ring: &KeyRing,
    arn: &str,
    version: &str,
    s: &Sealed,
) -> Result<Option<Sealed>, EnvelopeError> {
    let master = ring.current()?;
    if master.id == s.master_key_id {
        return Ok(None);
    }
    let mut dk = data_key(ring, arn, version, s)?;
    let wrapped = seal_with(&master.key, &key_aad(arn, version), &dk);
    dk.fill(0);
    Ok(Some(Sealed {
        master_key_id: master.id,
        wrapped_key: wrapped?,
        ..s.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_for_their_secret_and_version_and_survive_a_rewrap() {
        let dir = std::env::temp_dir().join(format!("gantry-env-{}", uuid::Uuid::new_v4()));
        let ring = KeyRing::new(Some(&dir), None);
        let v = Plain::String("hunter2-canary".into());
        let s = seal(&ring, "arn:a", "v1", &v).unwrap();
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        assert_eq!(open(&ring, "arn:a", "v1", &s).unwrap(), v);
        assert!(
            open(&ring, "arn:b", "v1", &s).is_err(),
            "bound to its secret"
        );
        assert!(
            open(&ring, "arn:a", "v2", &s).is_err(),
            "bound to its version"
        );
        let other = seal(&ring, "arn:a", "v1", &v).unwrap();
        assert_ne!(other.wrapped_key, s.wrapped_key, "a data key per value");
        assert!(rewrap(&ring, "arn:a", "v1", &s).unwrap().is_none());
        let new_id = super::super::keyring::rotate(&dir.join(super::super::keyring::FILE)).unwrap();
        let r = rewrap(&ring, "arn:a", "v1", &s).unwrap().unwrap();
        assert_eq!(r.master_key_id, new_id);
        assert_eq!(
            r.ciphertext, s.ciphertext,
            "the value itself is not re-encrypted"
        );
        assert_eq!(open(&ring, "arn:a", "v1", &r).unwrap(), v);
        let b = Plain::Binary(vec![0, 1, 2, 255]);
        let sb = seal(&ring, "arn:a", "v3", &b).unwrap();
        assert_eq!(open(&ring, "arn:a", "v3", &sb).unwrap(), b);
        let _ = std::fs::remove_dir_all(dir);
    }
}
