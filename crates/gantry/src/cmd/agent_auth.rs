//! How `gantry agent` (and `gantry sim-agents`) get their node identity: the grant a host
//! joins with once (a cluster join token or an SSM activation), the hash that pins the
//! server's CA on first contact, and a CA bundle for an `https` server. Access keys no longer
//! open agent sessions: the node's own credential, kept in its state dir, does.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use gantry_api::node::JoinGrant;

#[derive(Debug, Args, Clone, Default)]
pub struct AgentAuthArgs {
    /// A cluster join token (`gantry token create`), used once when the host has no node
    /// credential yet: the host joins as an EC2 instance.
    #[arg(
        long,
        env = "GANTRY_JOIN_TOKEN",
        hide_env_values = true,
        conflicts_with_all = ["activation_id", "activation_code"]
    )]
    pub join_token: Option<String>,
    /// An SSM activation id (`aws ssm create-activation`), with --activation-code: the host
    /// joins as an EXTERNAL managed instance.
    #[arg(long, env = "GANTRY_ACTIVATION_ID", requires = "activation_code")]
    pub activation_id: Option<String>,
    /// The activation's code.
    #[arg(
        long,
        env = "GANTRY_ACTIVATION_CODE",
        hide_env_values = true,
        requires = "activation_id"
    )]
    pub activation_code: Option<String>,
    /// The hex SHA-256 of the cluster CA certificate (DER), from the join command: on first
    /// contact the agent trusts the server's CA only if it has this hash.
    #[arg(long, env = "GANTRY_CA_SHA256")]
    pub ca_sha256: Option<String>,
    /// PEM bundle of the CAs to trust for an https server: its cluster CA (default: the CA
    /// pinned on first contact). $AWS_CA_BUNDLE is the AWS CLI's and is not read: on most
    /// hosts it names the system bundle, which does not hold the cluster CA.
    #[arg(long, env = "GANTRY_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
}

impl AgentAuthArgs {
    /// The grant of the flags, if any.
    pub fn grant(&self) -> Option<JoinGrant> {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        if let Some(token) = nonempty(&self.join_token) {
            return Some(JoinGrant::Token {
                token: token.trim().to_string(),
            });
        }
        match (
            nonempty(&self.activation_id),
            nonempty(&self.activation_code),
        ) {
            (Some(id), Some(code)) => Some(JoinGrant::Activation {
                activation_id: id.trim().to_string(),
                activation_code: code.trim().to_string(),
            }),
            _ => None,
        }
    }

    /// The CA bundle's PEM, when one is named.
    pub fn ca_pem(&self) -> anyhow::Result<Option<Vec<u8>>> {
        self.ca_bundle
            .as_ref()
            .map(|p| {
                std::fs::read(p)
                    .with_context(|| format!("could not read the CA bundle {}", p.display()))
            })
            .transpose()
    }

    /// Puts the grant, the pin and the CA bundle into an agent's configuration.
    pub fn apply(&self, cfg: &mut gantry_agent::AgentConfig) -> anyhow::Result<()> {
        cfg.grant = self.grant();
        cfg.ca_sha256 = self.ca_sha256.clone().filter(|s| !s.trim().is_empty());
        cfg.ca_bundle = self.ca_pem()?;
        Ok(())
    }

    /// The link of `gantry sim-agents`: the CA bundle, else the CA pinned by --ca-sha256.
    /// A link to `server_url`: one URL, or several replicas' separated by commas (the
    /// first is where a pinned CA is fetched from).
    pub async fn link(&self, server_url: &str) -> anyhow::Result<gantry_link::Link> {
        let servers = gantry_link::Servers::parse(server_url).context("--server")?;
        let server_url = &servers.urls()[0].clone();
        let link = gantry_link::Link::with_servers(servers);
        let pem = match (self.ca_pem()?, &self.ca_sha256) {
            (Some(pem), _) => Some(pem),
            (None, Some(pin)) if server_url.starts_with("https://") => {
                Some(gantry_link::fetch_ca_pinned(server_url, pin).await?)
            }
            _ => None,
        };
        Ok(match pem {
            Some(pem) => link.with_ca_pem(&pem).context("--ca-bundle")?,
            None => link,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_or_an_activation_is_the_grant() {
        let token = AgentAuthArgs {
            join_token: Some(" abc.def ".into()),
            ..Default::default()
        };
        assert_eq!(
            token.grant(),
            Some(JoinGrant::Token {
                token: "abc.def".into()
            })
        );
        let act = AgentAuthArgs {
            activation_id: Some("id".into()),
            activation_code: Some("code".into()),
            ..Default::default()
        };
        assert!(matches!(act.grant(), Some(JoinGrant::Activation { .. })));
        assert_eq!(AgentAuthArgs::default().grant(), None);
    }
}
