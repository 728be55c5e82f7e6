//! `gantry audit`: reads the server's audit log (`<state-dir>/audit/audit.log` and its
//! rotated files) from the local disk, oldest first, filtered by time, principal and
//! decision. It reads files, so it runs on the server's host as a user who may read them.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::{Args, ValueEnum};
use gantry_server::auth::audit::{read_all, Decision, Record};
use gantry_server::auth::dates;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only requests since then: a duration back from now (30m, 1h, 2d) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only requests made as this principal ARN.
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,
    /// Only denied requests.
    #[arg(long)]
    pub denied: bool,
    /// The server's state directory.
    #[arg(long, env = "GANTRY_STATE_DIR", default_value = "/var/lib/gantry")]
    pub state_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    /// One JSON object a line, as stored.
    Json,
}

/// Seconds since the epoch `since` means, with `now` for relative forms.
fn since_secs(since: &str, now: f64) -> anyhow::Result<f64> {
    if let Some(t) = dates::parse_rfc3339(since) {
        return Ok(t);
    }
    let d = humantime::parse_duration(since).map_err(|_| {
        anyhow!("--since {since:?} is neither a duration (30m, 1h, 2d) nor an RFC 3339 time (2026-12-01T10:00:00Z)")
    })?;
    Ok(now - d.as_secs_f64())
}

/// The records `a` selects, from `dir`.
pub fn select(dir: &Path, a: &AuditArgs, now: f64) -> anyhow::Result<Vec<Record>> {
    let since = a.since.as_deref().map(|s| since_secs(s, now)).transpose()?;
    let all =
        read_all(dir).with_context(|| format!("reading the audit log in {}", dir.display()))?;
    Ok(all
        .into_iter()
        .filter(|r| !a.denied || r.decision == Decision::Deny)
        .filter(|r| {
            a.principal
                .as_deref()
                .is_none_or(|p| r.principal_arn.as_deref() == Some(p))
        })
        .filter(|r| since.is_none_or(|s| dates::parse_rfc3339(&r.time).is_some_and(|t| t >= s)))
        .collect())
}

fn print_table(records: &[Record]) {
    println!(
        "{:<24}  {:<6}  {:<5}  {:<30}  {:<15}  {:<44}  ERROR",
        "TIME", "DECIDE", "SVC", "ACTION", "SOURCE", "PRINCIPAL"
    );
    for r in records {
        let decision = match r.decision {
            Decision::Allow => "Allow",
            Decision::Deny => "Deny",
        };
        println!(
            "{:<24}  {:<6}  {:<5}  {:<30}  {:<15}  {:<44}  {}",
            r.time,
            decision,
            r.service,
            r.action,
            r.source_ip,
            r.principal_arn.as_deref().unwrap_or("-"),
            r.error_code.as_deref().unwrap_or("")
        );
    }
}

pub fn run(a: &AuditArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let dir = a.state_dir.join("audit");
    let records = select(&dir, a, now)?;
    match a.output {
        Output::Json => {
            for r in &records {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        Output::Table => print_table(&records),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: &str, who: Option<&str>, decision: Decision) -> Record {
        Record {
            time: time.into(),
            request_id: "r".into(),
            principal_arn: who.map(str::to_string),
            access_key_id: None,
            source_ip: "127.0.0.1".into(),
            service: "ecs".into(),
            action: "ListClusters".into(),
            resources: vec!["*".into()],
            decision,
            error_code: None,
        }
    }

    #[test]
    fn filters_by_time_principal_and_decision() {
        let dir = std::env::temp_dir().join(format!("gantry-audit-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let alice = "arn:aws:iam::1:user/alice";
        let lines: Vec<String> = [
            rec("2026-12-01T09:00:00.000Z", Some(alice), Decision::Allow),
            rec("2026-12-01T10:30:00.000Z", None, Decision::Deny),
            rec("2026-12-01T10:45:00.000Z", Some(alice), Decision::Deny),
        ]
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
        std::fs::write(dir.join("audit.log"), lines.join("\n") + "\nnot json\n").unwrap();
        let now = dates::parse_rfc3339("2026-12-01T11:00:00Z").unwrap();
        let args = |since: Option<&str>, principal: Option<&str>, denied: bool| AuditArgs {
            since: since.map(str::to_string),
            principal: principal.map(str::to_string),
            denied,
            state_dir: dir.clone(),
            output: Output::Json,
        };
        assert_eq!(
            select(&dir, &args(None, None, false), now).unwrap().len(),
            3
        );
        assert_eq!(
            select(&dir, &args(Some("1h"), None, false), now)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            select(&dir, &args(Some("2026-12-01T10:40:00Z"), None, false), now)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            select(&dir, &args(None, Some(alice), false), now)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            select(&dir, &args(None, Some(alice), true), now)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(select(&dir, &args(None, None, true), now).unwrap().len(), 2);
        assert!(select(&dir, &args(Some("yesterday"), None, false), now).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
