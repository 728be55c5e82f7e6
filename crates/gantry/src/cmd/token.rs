//! `gantry token create|list|delete`: cluster join tokens, the operator's way to join its own
//! hosts (as EC2 instances). The server's join-token API is AWS JSON 1.1 with the target
//! prefix `GantryNodes_20261201.`, signed for the service `gantry`.

use std::time::Duration;

use clap::Subcommand;
use serde_json::{json, Value};

use super::s;
use crate::client::Client;

/// The `X-Amz-Target` prefix of the join-token API.
pub const TARGET_PREFIX: &str = "GantryNodes_20261201.";
/// The SigV4 signing name of the join-token API.
pub const SERVICE: &str = "gantry";

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a join token and print the command that joins a host with it.
    Create {
        #[arg(long, default_value = "default")]
        cluster: String,
        /// How long the token can be used, e.g. 30m, 24h, 7d (60 s to 30 days).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// How many hosts may join with it.
        #[arg(long, default_value = "1")]
        limit: u32,
        /// The server URL the host reaches (default: --endpoint).
        #[arg(long)]
        server: Option<String>,
        /// Print only the token.
        #[arg(long)]
        quiet: bool,
    },
    /// List join tokens (never their secrets).
    #[command(alias = "ls")]
    List {
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Delete a join token: no host can join with it any more (joined hosts stay).
    #[command(alias = "rm")]
    Delete { token_id: String },
}

async fn call(c: &Client, op: &str, body: Value) -> anyhow::Result<Value> {
    c.call_target(&format!("{TARGET_PREFIX}{op}"), Some(SERVICE), body)
        .await
}

/// `CreateJoinToken`: the answer holds `token`, `tokenId`, `expiresAt` and `caSha256`.
pub async fn create(c: &Client, cluster: &str, ttl: Duration, limit: u32) -> anyhow::Result<Value> {
    call(
        c,
        "CreateJoinToken",
        json!({
            "cluster": cluster,
            "ttlSeconds": ttl.as_secs(),
            "registrationLimit": limit,
        }),
    )
    .await
}

/// The command line that joins a host with `token` to the server at `server`.
pub fn join_command(server: &str, cluster: &str, token: &str, ca_sha256: Option<&str>) -> String {
    let mut line =
        format!("gantry agent install --server {server} --cluster {cluster} --join-token {token}");
    // A plain-http (loopback) server has no CA to pin.
    if let (true, Some(h)) = (server.starts_with("https://"), ca_sha256) {
        line.push_str(&format!(" --ca-sha256 {h}"));
    }
    line
}

fn when(v: &Value) -> String {
    v.as_f64()
        .filter(|t| *t >= 0.0)
        .map(|t| {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs_f64(t))
                .to_string()
        })
        .unwrap_or_else(|| "-".to_string())
}

pub async fn run(c: &Client, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            cluster,
            ttl,
            limit,
            server,
            quiet,
        } => {
            let out = create(c, &cluster, ttl, limit).await?;
            let token = out["token"].as_str().unwrap_or_default();
            if quiet {
                println!("{token}");
                return Ok(());
            }
            let server = server.unwrap_or_else(|| c.endpoints());
            println!(
                "Join token {} for cluster {cluster}: {limit} host(s), until {}.",
                s(&out, "tokenId"),
                when(&out["expiresAt"])
            );
            println!("On each host, as root:");
            println!(
                "  {}",
                join_command(&server, &cluster, token, out["caSha256"].as_str())
            );
            println!("(or `gantry agent` with the same flags, without `install`)");
        }
        TokenCmd::List { cluster } => {
            let mut body = json!({});
            if let Some(c) = cluster {
                body["cluster"] = json!(c);
            }
            let out = call(c, "DescribeJoinTokens", body).await?;
            let rows: Vec<Vec<String>> = out["joinTokens"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    vec![
                        s(t, "tokenId"),
                        s(t, "cluster"),
                        format!(
                            "{}/{}",
                            s(t, "registrationsCount"),
                            s(t, "registrationLimit")
                        ),
                        when(&t["expiresAt"]),
                        s(t, "expired"),
                    ]
                })
                .collect();
            crate::table::print(
                &["TOKEN ID", "CLUSTER", "USED", "EXPIRES", "EXPIRED"],
                &rows,
            );
        }
        TokenCmd::Delete { token_id } => {
            call(c, "DeleteJoinToken", json!({ "tokenId": token_id })).await?;
            println!("Deleted join token {token_id}.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_command_pins_only_an_https_server() {
        assert_eq!(
            join_command("https://h:8443", "prod", "ab.cd", Some("ff")),
            "gantry agent install --server https://h:8443 --cluster prod --join-token ab.cd --ca-sha256 ff"
        );
        assert_eq!(
            join_command("http://127.0.0.1:8080", "default", "ab.cd", Some("ff")),
            "gantry agent install --server http://127.0.0.1:8080 --cluster default --join-token ab.cd"
        );
    }
}
