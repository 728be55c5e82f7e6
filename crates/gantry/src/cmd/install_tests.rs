use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use clap::{CommandFactory, Parser};
use gantry_tests::TempDir;

use super::*;
use crate::cmd::{Cli, Command};

const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn action(argv: &[&str]) -> Result<AgentAction, clap::Error> {
    let cli = Cli::try_parse_from(["gantry", "agent"].iter().chain(argv))?;
    let Command::Agent(a) = cli.command else {
        panic!("not agent")
    };
    Ok(a.action.expect("an agent subcommand"))
}

fn install_args(argv: &[&str]) -> InstallArgs {
    match action(argv).expect("parse") {
        AgentAction::Install(a) => a,
        AgentAction::Uninstall(_) => panic!("not install"),
    }
}

/// A fake gantry binary and the root to install into.
struct Host {
    dir: TempDir,
}

impl Host {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        std::fs::create_dir_all(dir.path().join("root")).expect("root");
        std::fs::write(dir.path().join("gantry"), b"#!/bin/sh\n").expect("binary");
        Self { dir }
    }
    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = ["install", "--server", "https://203.0.113.7:8443"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(["--cluster", "prod"].map(String::from));
        v.push("--binary".into());
        v.push(self.dir.path().join("gantry").display().to_string());
        v.push("--root".into());
        v.push(self.root().display().to_string());
        // Last: they may end with `-- AGENT_FLAGS`.
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }
    fn install(&self, extra: &[&str]) -> Result<(), InstallError> {
        let args = self.args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(action(&args).expect("parse"))
    }
    fn uninstall(&self, purge: bool) -> Result<(), InstallError> {
        let root = self.root().display().to_string();
        let mut argv = vec!["uninstall", "--root", root.as_str()];
        if purge {
            argv.push("--purge");
        }
        run(action(&argv).expect("parse"))
    }
    fn at(&self, p: &str) -> std::path::PathBuf {
        under(&self.root(), p)
    }
    /// Every file and symlink under the root.
    fn files(&self) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let t = e.file_type().expect("type");
                if t.is_dir() {
                    walk(&e.path(), out);
                } else {
                    out.push(e.path().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root(), &mut out);
        out
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

fn agent_toml(host: &Host) -> toml::Table {
    let path = host.at(CONFIG);
    let table = crate::config_file::read(&path, true)
        .expect("readable")
        .expect("present");
    // The agent's own loader takes every key.
    let cmd = crate::config_file::with_config_flag(Cli::command(), crate::config_file::FILES);
    let agent = cmd.find_subcommand("agent").expect("agent");
    crate::config_file::to_args(agent, &path, &table, None).expect("the agent takes agent.toml");
    table
}

#[test]
fn install_into_a_root_writes_the_binary_config_and_unit() {
    let host = Host::new("install-root");
    host.install(&[
        "--join-token",
        "0123456789abcdef.s3cr3t",
        "--ca-sha256",
        &HASH.to_uppercase(),
    ])
    .expect("install");
    let bin = host.at(BINARY);
    assert_eq!(std::fs::read(&bin).expect("bin"), b"#!/bin/sh\n");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(mode(&host.at("/etc/gantry")), 0o700);
    assert_eq!(mode(&host.at(CONFIG)), 0o600);
    assert_eq!(mode(&host.at("/var/lib/gantry")), 0o700);
    let unit = std::fs::read_to_string(host.at(UNIT)).expect("unit");
    for want in [
        "ExecStart=/usr/local/bin/gantry agent --config /etc/gantry/agent.toml",
        "Type=notify",
        "Delegate=yes",
        "KillMode=process",
        "Restart=always",
        "RestartSec=",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.contains(want), "{want} not in the unit");
    }
    assert!(!unit.contains("agent.env") && !unit.contains("ACCESS_KEY"));
    assert_eq!(
        std::fs::read_link(host.at(UNIT_LINK)).expect("enabled"),
        Path::new(UNIT)
    );
    let table = agent_toml(&host);
    let keys: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["server", "cluster", "state-dir", "join-token", "ca-sha256"])
    );
    assert_eq!(table["ca-sha256"].as_str(), Some(HASH), "lower-cased");
    assert_eq!(
        table["join-token"].as_str(),
        Some("0123456789abcdef.s3cr3t")
    );
    assert_eq!(table["state-dir"].as_str(), Some("/var/lib/gantry"));
    // Again, as an upgrade does: same result.
    host.install(&[
        "--join-token",
        "0123456789abcdef.s3cr3t",
        "--ca-sha256",
        HASH,
    ])
    .expect("install again");
    assert_eq!(mode(&host.at(CONFIG)), 0o600);
    // A host that has joined needs no grant to be installed again.
    let e = host
        .install(&["--ca-sha256", HASH])
        .expect_err("no credential yet");
    assert!(e.to_string().contains("a grant is needed"), "{e}");
    let node = host.at("/var/lib/gantry/agent/node");
    std::fs::create_dir_all(&node).expect("node dir");
    std::fs::write(node.join("node.json"), b"{}").expect("credential");
    host.install(&["--ca-sha256", HASH])
        .expect("re-install without a grant");
    let table = agent_toml(&host);
    assert!(
        !GRANT_KEYS.iter().any(|k| table.contains_key(*k)),
        "{table:?}"
    );
}

#[test]
fn an_activation_and_more_agent_flags_go_into_agent_toml() {
    let host = Host::new("install-activation");
    host.install(&[
        "--activation-id",
        "5743558d-563b-4457-8682-d16c3EXAMPLE",
        "--activation-code",
        "dRmgnYaFv567vEXAMPLE",
        "--ca-sha256",
        HASH,
        "--state-dir",
        "/srv/gantry",
        "--",
        "--attribute",
        "rack=r3",
        "--reserved-memory",
        "256",
        "--disable-privileged",
    ])
    .expect("install");
    let table = agent_toml(&host);
    let keys: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "server",
            "cluster",
            "state-dir",
            "activation-id",
            "activation-code",
            "ca-sha256",
            "attribute",
            "reserved-memory",
            "disable-privileged",
        ])
    );
    assert_eq!(table["reserved-memory"].as_integer(), Some(256));
    assert_eq!(table["disable-privileged"].as_bool(), Some(true));
    assert_eq!(
        table["attribute"].as_array().map(|a| a.len()),
        Some(1),
        "{table:?}"
    );
    assert_eq!(mode(&host.at("/srv/gantry")), 0o700);
}

#[test]
fn bad_inputs_are_refused_before_anything_is_written() {
    let host = Host::new("install-bad");
    let cases: &[(&[&str], &str)] = &[
        (&["--ca-sha256", HASH], "a grant is needed"),
        (
            &[
                "--join-token",
                "t.s",
                "--activation-id",
                "a",
                "--activation-code",
                "c",
                "--ca-sha256",
                HASH,
            ],
            "not both",
        ),
        (
            &["--activation-id", "a", "--ca-sha256", HASH],
            "go together",
        ),
        (
            &["--activation-code", "c", "--ca-sha256", HASH],
            "go together",
        ),
        (
            &["--join-token", "t.s"],
            "--ca-sha256 is needed for an https server",
        ),
        (
            &["--join-token", "t.s", "--ca-sha256", "abc"],
            "64 hex digits",
        ),
        (
            &["--join-token", "t.s", "--ca-sha256", &"g".repeat(64)],
            "64 hex digits",
        ),
        (
            &[
                "--join-token",
                "t.s",
                "--ca-sha256",
                HASH,
                "--state-dir",
                "rel",
            ],
            "absolute",
        ),
        (
            &[
                "--join-token",
                "t.s",
                "--ca-sha256",
                HASH,
                "--",
                "--server",
                "x",
            ],
            "give it to `gantry agent install`",
        ),
        (
            &[
                "--join-token",
                "t.s",
                "--ca-sha256",
                HASH,
                "--",
                "--no-such-flag",
            ],
            "after `--`",
        ),
    ];
    for (extra, want) in cases {
        let e = host.install(extra).expect_err(want);
        assert!(e.to_string().contains(want), "{extra:?}: {e}");
        assert!(
            host.files().is_empty(),
            "{extra:?} wrote {:?}",
            host.files()
        );
    }
    let e = install_args(&[
        "install",
        "--server",
        "ftp://h",
        "--cluster",
        "c",
        "--join-token",
        "t",
    ]);
    assert!(plan(&e)
        .expect_err("ftp")
        .to_string()
        .contains("https://HOST:PORT"));
    let e = install_args(&[
        "install",
        "--server",
        "https://h",
        "--cluster",
        "a b",
        "--join-token",
        "t",
    ]);
    assert!(plan(&e)
        .expect_err("cluster")
        .to_string()
        .contains("--cluster"));
    // Plain http (a loopback dev server) needs no pin.
    let ok = install_args(&[
        "install",
        "--server",
        "http://127.0.0.1:8080",
        "--cluster",
        "c",
        "--join-token",
        "t.s",
    ]);
    assert!(plan(&ok).is_ok());
}

#[test]
fn gantry_agent_with_flags_still_runs_the_agent() {
    let cli = Cli::try_parse_from([
        "gantry",
        "agent",
        "--server",
        "https://h:1",
        "--cluster",
        "c",
    ])
    .expect("agent");
    let Command::Agent(a) = cli.command else {
        panic!("not agent")
    };
    assert!(a.action.is_none());
    assert_eq!(a.server, "https://h:1");
    assert!(Cli::try_parse_from(["gantry", "agent", "--cluster", "c", "install"]).is_err());
    assert!(Cli::try_parse_from(["gantry", "agent", "install", "--cluster", "c"]).is_err());
}

#[path = "install_systemd_tests.rs"]
mod systemd;
