//! Request ids: every response carries one (`x-amzn-RequestId` for JSON services,
//! `<RequestId>` in query-protocol bodies), so a client's report can be matched to logs.

/// The header JSON services answer with.
pub const HEADER: &str = "x-amzn-requestid";

/// A fresh request id, in the UUID form AWS uses.
pub fn new() -> String {
    uuid::Uuid::new_v4().to_string()
}
