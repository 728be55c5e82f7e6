//! Shared helpers for the privileged integration suites.
