//! The AWS wire framing every service Gantry speaks shares.

pub mod json;
pub mod paging;
