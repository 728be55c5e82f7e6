//! IAM, as the botocore `iam` model defines it (query protocol). SKELETON: only the
//! identity lookup the auth gate needs, backed by the configured administrator key.

pub mod identity;
