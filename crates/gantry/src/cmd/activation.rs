//! `gantry activation create|list|delete`: SSM activations, the ECS Anywhere way to join hosts
//! (as EXTERNAL instances). `create` prints the one command a host runs to join. The calls
//! are SSM's own (`AmazonSSM.*`, signed for `ssm`), so IAM policies on `ssm:CreateActivation`
//! govern who may make one, as they do for `aws ssm create-activation`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};

use super::s;
use crate::client::Client;

/// The `X-Amz-Target` prefix of SSM.
const TARGET_PREFIX: &str = "AmazonSSM.";
/// SSM's SigV4 signing name.
const SERVICE: &str = "ssm";

#[derive(Debug, Subcommand)]
pub enum ActivationCmd {
    /// Create an activation and print the command that joins a host with it.
    Create {
        /// The cluster the host joins.
        #[arg(long, default_value = "default")]
        cluster: String,
        /// How long the activation can be used, e.g. 30m, 24h, 7d (at most 30 days).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// How many hosts may join with it (1 to 1000).
        #[arg(long, default_value = "1")]
        limit: u32,
        /// The IAM role the managed instances get (SSM's IamRole: a name, or path/name). It
        /// must exist and trust ssm.amazonaws.com, and you need iam:PassRole on it; the server
        /// makes gantry-external-node at its first start.
        #[arg(long, default_value = "gantry-external-node")]
        iam_role: String,
        /// The name the hosts get (SSM's DefaultInstanceName).
        #[arg(long)]
        name: Option<String>,
        /// The server URL the host reaches (default: --endpoint).
        #[arg(long)]
        server: Option<String>,
    },
    /// List activations (never their codes).
    #[command(alias = "ls")]
    List,
    /// Delete an activation: no host can join with it any more (joined hosts stay).
    #[command(alias = "rm")]
    Delete { activation_id: String },
}

async fn call(c: &Client, op: &str, body: Value) -> anyhow::Result<Value> {
    c.call_target(&format!("{TARGET_PREFIX}{op}"), Some(SERVICE), body)
        .await
}

/// The hex SHA-256 of the cluster CA certificate's DER, as `GET /agent/v1/ca` serves it,
/// over the connection the CLI already trusts.
async fn ca_sha256(c: &Client) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(&format!("{}/agent/v1/ca", c.endpoint()))
        .context("the endpoint is not a URL")?;
    let pem = c
        .get(url)
        .await
        .context("fetching the cluster CA from /agent/v1/ca")?
        .text()
        .await
        .context("reading the cluster CA")?;
    gantry_server::nodes::ca_sha256_of_pem(&pem)
        .context("the server's /agent/v1/ca holds no PEM certificate")
}

/// The command line that joins a host to `cluster` with activation `id`/`code`.
pub fn join_command(server: &str, cluster: &str, id: &str, code: &str, ca_sha256: &str) -> String {
    format!(
        "gantry agent install --server {server} --cluster {cluster} --activation-id {id} --activation-code {code} --ca-sha256 {ca_sha256}"
    )
}

fn when(v: &Value) -> String {
    v.as_f64()
        .filter(|t| *t >= 0.0)
        .map(|t| {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs_f64(t)).to_string()
        })
        .unwrap_or_else(|| "-".to_string())
}

pub async fn run(c: &Client, cmd: ActivationCmd) -> anyhow::Result<()> {
    match cmd {
        ActivationCmd::Create {
            cluster,
            ttl,
            limit,
            iam_role,
            name,
            server,
        } => {
            let expires = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_add(ttl)
                .as_secs_f64();
            let mut body = json!({
                "IamRole": iam_role,
                "RegistrationLimit": limit,
                "ExpirationDate": expires,
                "Description": format!("gantry activation for cluster {cluster}"),
            });
            if let Some(n) = name {
                body["DefaultInstanceName"] = json!(n);
            }
            // The pin first: a server whose CA cannot be read gets no activation made.
            let pin = ca_sha256(c).await?;
            let out = call(c, "CreateActivation", body).await.map_err(|e| {
                if format!("{e:#}").contains("Nonexistent role") {
                    e.context(format!(
                        "the role {iam_role} must exist and trust ssm.amazonaws.com: create it with `aws iam create-role --role-name {iam_role} --assume-role-policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"Service\":\"ssm.amazonaws.com\"}},\"Action\":\"sts:AssumeRole\"}}]}}'`, or pass --iam-role with one that does"
                    ))
                } else {
                    e
                }
            })?;
            let id = s(&out, "ActivationId");
            let code = s(&out, "ActivationCode");
            let server = server.unwrap_or_else(|| c.endpoints());
            eprintln!(
                "Activation {id} for cluster {cluster}: {limit} host(s), until {}. On each host, as root:",
                when(&json!(expires))
            );
            println!("{}", join_command(&server, &cluster, &id, &code, &pin));
        }
        ActivationCmd::List => {
            let mut rows: Vec<Vec<String>> = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut body = json!({});
                if let Some(t) = &token {
                    body["NextToken"] = json!(t);
                }
                let out = call(c, "DescribeActivations", body).await?;
                for a in out["ActivationList"].as_array().into_iter().flatten() {
                    rows.push(vec![
                        s(a, "ActivationId"),
                        s(a, "IamRole"),
                        format!(
                            "{}/{}",
                            s(a, "RegistrationsCount"),
                            s(a, "RegistrationLimit")
                        ),
                        when(&a["ExpirationDate"]),
                        s(a, "Expired"),
                        s(a, "Description"),
                    ]);
                }
                token = out["NextToken"].as_str().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            crate::table::print(
                &[
                    "ACTIVATION ID",
                    "IAM ROLE",
                    "USED",
                    "EXPIRES",
                    "EXPIRED",
                    "DESCRIPTION",
                ],
                &rows,
            );
        }
        ActivationCmd::Delete { activation_id } => {
            call(
                c,
                "DeleteActivation",
                json!({ "ActivationId": activation_id }),
            )
            .await?;
            println!("Deleted activation {activation_id}.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_command_carries_everything_the_host_needs() {
        let line = join_command("https://h:8443", "edge", "id-1", "CODE", "ab12");
        assert_eq!(
            line,
            "gantry agent install --server https://h:8443 --cluster edge --activation-id id-1 --activation-code CODE --ca-sha256 ab12"
        );
    }
}
