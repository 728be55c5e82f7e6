//! What the server keeps in the store and how it reads and writes it.

pub mod db;
pub mod records;
pub mod service_records;
pub mod update;
