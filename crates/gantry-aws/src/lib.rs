//! gantry-aws: the pure parts every AWS API Gantry serves shares (DESIGN.md §2).
//!
//! - [`sigv4`]: verifying a request's Signature Version 4 (header or query-string form)
//!   exactly as AWS does: the canonical request from the client's signed headers, the
//!   credential scope, the 5-minute window, the payload hash, a constant-time compare.
//! - [`policy`]: IAM's policy language (parsing with IAM's own error texts) and its
//!   evaluation: explicit deny wins, then an allow, else the request is denied.
//!
//! No I/O, no clock: callers pass `now`, the secret and the policies.

pub mod policy;
pub mod sigv4;
