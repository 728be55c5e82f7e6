//! The AWS wire framing every service Gantry speaks shares: JSON 1.0/1.1 ([`json`]), the
//! query protocol with XML responses ([`query`], [`xml`]) that IAM, STS and ELBv2 use, error
//! shapes, request ids and paging tokens. Nothing here knows a service: the framing hands a
//! parsed request to [`crate::registry`].

pub mod body;
pub mod json;
pub mod paging;
pub mod query;
pub mod request_id;
pub mod xml;
