//! How `gantry agent` (and `gantry sim-agents`) prove who they are to the agent gateway: an
//! access key (until nodes get their own identity, one with a node policy), the server's
//! region it signs for, and the CA bundle of an `https` server.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use gantry_link::{Credentials, Signer};

#[derive(Debug, Args, Clone, Default)]
pub struct AgentAuthArgs {
    /// The access key id registration and the session are signed with (default:
    /// $AWS_ACCESS_KEY_ID).
    #[arg(long, env = "GANTRY_AGENT_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Its secret access key (default: $AWS_SECRET_ACCESS_KEY). Prefer the environment: a
    /// flag shows in the process list.
    #[arg(long, env = "GANTRY_AGENT_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// The session token of temporary credentials (default: $AWS_SESSION_TOKEN).
    #[arg(long, env = "GANTRY_AGENT_SESSION_TOKEN", hide_env_values = true)]
    pub session_token: Option<String>,
    /// The server's region, which signatures are scoped to.
    #[arg(long, env = "GANTRY_REGION", default_value = crate::creds::DEFAULT_REGION)]
    pub region: String,
    /// PEM bundle of the CAs to trust for an https server: its cluster CA (default:
    /// $AWS_CA_BUNDLE).
    #[arg(long, env = "GANTRY_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
}

impl AgentAuthArgs {
    /// The signer, from the flags or else the AWS_* environment; none when neither gives a
    /// key (the server then refuses the agent, and says so).
    pub fn signer(&self) -> anyhow::Result<Option<Signer>> {
        self.signer_from(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    fn signer_from(&self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<Signer>> {
        let (id, secret, token) = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone(), self.session_token.clone()),
            (None, None) => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => (id, secret, env("AWS_SESSION_TOKEN")),
                _ => return Ok(None),
            },
            _ => anyhow::bail!(
                "--access-key-id and --secret-access-key go together (or GANTRY_AGENT_ACCESS_KEY_ID and GANTRY_AGENT_SECRET_ACCESS_KEY)"
            ),
        };
        let creds = Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
        };
        Ok(Some(Signer::new(creds, self.region.clone())))
    }

    /// The CA bundle's PEM, when one is named.
    pub fn ca_pem(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self
            .ca_bundle
            .clone()
            .or_else(|| std::env::var_os("AWS_CA_BUNDLE").map(PathBuf::from));
        path.map(|p| {
            std::fs::read(&p)
                .with_context(|| format!("could not read the CA bundle {}", p.display()))
        })
        .transpose()
    }

    /// Puts the signer and CA bundle into an agent's configuration; warns when there is no
    /// key.
    pub fn apply(&self, cfg: &mut gantry_agent::AgentConfig) -> anyhow::Result<()> {
        cfg.signer = self.signer()?;
        if cfg.signer.is_none() {
            tracing::warn!("no access key for the agent (--access-key-id/--secret-access-key, GANTRY_AGENT_ACCESS_KEY_ID/GANTRY_AGENT_SECRET_ACCESS_KEY or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): registration is unsigned and a server that checks credentials refuses it");
        }
        cfg.ca_bundle = self.ca_pem()?;
        Ok(())
    }

    /// The link of `gantry sim-agents`.
    pub fn link(&self, server_url: &str) -> anyhow::Result<gantry_link::Link> {
        let mut link = gantry_link::Link::new(server_url);
        if let Some(pem) = self.ca_pem()? {
            link = link.with_ca_pem(&pem).context("--ca-bundle")?;
        }
        if let Some(s) = self.signer()? {
            link = link.with_signer(s);
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_then_the_aws_environment() {
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIAENV".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("env-secret".to_string()),
            _ => None,
        };
        let none = AgentAuthArgs {
            region: "us-east-1".into(),
            ..Default::default()
        };
        let s = none.signer_from(&env).expect("ok").expect("a key");
        assert_eq!(s.access_key_id(), "AKIAENV");
        assert!(none.signer_from(&|_| None).expect("ok").is_none());
        let flags = AgentAuthArgs {
            access_key_id: Some("AKIAFLAG".into()),
            secret_access_key: Some("flag-secret".into()),
            region: "local".into(),
            ..Default::default()
        };
        let s = flags.signer_from(&env).expect("ok").expect("a key");
        assert_eq!((s.access_key_id(), s.region()), ("AKIAFLAG", "local"));
        let half = AgentAuthArgs {
            access_key_id: Some("AKIAFLAG".into()),
            ..Default::default()
        };
        assert!(half.signer_from(&env).is_err());
    }
}
