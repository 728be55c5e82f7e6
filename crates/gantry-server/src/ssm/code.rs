//! Activation ids and codes, and managed-instance ids. The code is a bearer secret: only its
//! SHA-256 is kept, and a presented code is compared by hash in constant time, so neither the
//! store nor the timing of a refusal tells anything about it.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Characters of an activation code (SSM's are 20 characters of base64's alphabet; these
/// leave out `+` and `/` so the code survives a shell and a URL unquoted).
const CODE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// 20 characters of 62: about 119 bits.
pub const CODE_LEN: usize = 20;

/// A fresh activation code.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_CHARS[rng.random_range(0..CODE_CHARS.len())]))
        .collect()
}

/// A fresh activation id: a lower-case UUID, as SSM's pattern wants.
pub fn new_activation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh managed-instance id: `mi-` and 17 hex digits.
pub fn new_managed_instance_id() -> String {
    let mut rng = rand::rng();
    let n: u128 = rng.random();
    format!("mi-{:017x}", n & ((1u128 << 68) - 1))
}

/// Hex SHA-256 of `code`.
pub fn hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// Does `code` hash to `stored` (hex)? Compares every byte whatever the first difference.
pub fn matches(code: &str, stored: &str) -> bool {
    let given = hash(code);
    let (a, b) = (given.as_bytes(), stored.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_ids_have_ssm_shapes() {
        let c = new_code();
        assert_eq!(c.len(), CODE_LEN);
        assert_ne!(c, new_code());
        let mi = new_managed_instance_id();
        assert_eq!(mi.len(), 20, "{mi}");
        assert!(mi[3..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let id = new_activation_id();
        assert_eq!(id.len(), 36);
    }

    #[test]
    fn only_the_right_code_matches() {
        let stored = hash("abc");
        assert!(matches("abc", &stored));
        assert!(!matches("abd", &stored));
        assert!(!matches("", &stored));
    }
}
