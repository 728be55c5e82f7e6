//! What the server keeps in the store and how it reads and writes it.

pub mod account_setting_records;
pub mod capacity_provider_records;
pub mod change_watch;
pub mod db;
pub mod deployment_records;
pub mod iam_records;
pub mod records;
pub mod service_records;
#[cfg(test)]
pub mod testing;
pub mod update;
