//! SecureString values at rest. Today they are sealed with the server's secret key
//! ([`crate::iam::secrets::Sealer`], ChaCha20-Poly1305 under `<state_dir>/secret.key` or
//! `--secret-key-file`), bound to the parameter's name and version so a sealed value cannot
//! be moved onto another parameter or version. These two functions are the only place that
//! knows how; the envelope scheme of the secrets issue replaces them.

use gantry_store::Store;

use super::param_errors::sealing;
use crate::error::Result;
use crate::iam::secrets::Sealer;
use crate::state::AppState;

fn sealer<S>(st: &AppState<S>) -> Result<Sealer> {
    Sealer::for_config(
        st.config.state_dir.as_deref(),
        st.config.secret_key_file.as_deref(),
    )
    .map_err(|e| sealing(&e))
}

fn context(name: &str, version: i64) -> String {
    format!("ssm-parameter:{name}:{version}")
}

pub fn seal<S: Store>(st: &AppState<S>, name: &str, version: i64, plain: &str) -> Result<String> {
    sealer(st)?
        .seal(&context(name, version), plain)
        .map_err(|e| sealing(&e))
}

pub fn open<S: Store>(st: &AppState<S>, name: &str, version: i64, sealed: &str) -> Result<String> {
    sealer(st)?
        .open(&context(name, version), sealed)
        .map_err(|e| sealing(&e))
}
