use std::any::TypeId;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
use gantry_tests::TempDir;

use super::values::{kind, Kind, Scalar};
use super::*;

/// A command of its own, with environment variables nothing else reads.
#[derive(Debug, Parser)]
struct TestCli {
    #[command(subcommand)]
    cmd: TestCmd,
}

#[derive(Debug, Subcommand)]
enum TestCmd {
    Serve(TestArgs),
    Other,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    #[arg(long, env = "GANTRY_CFTEST_LISTEN", default_value = "127.0.0.1:1")]
    listen: std::net::SocketAddr,
    #[arg(long, env = "GANTRY_CFTEST_LOST", default_value = "30")]
    lost_after: u64,
    #[arg(long, default_value = "/var/lib/x")]
    state_dir: PathBuf,
    #[arg(long = "layout", value_delimiter = ',')]
    layouts: Vec<PathBuf>,
    #[arg(long, value_delimiter = ',', default_value = "22")]
    reserved_ports: Vec<u16>,
    #[arg(long, env = "GANTRY_CFTEST_VERBOSE")]
    verbose: bool,
    #[arg(long, conflicts_with = "plain")]
    tls: bool,
    #[arg(long)]
    plain: bool,
    #[arg(long, env = "GANTRY_CFTEST_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

fn run(dir: &Path, argv: &[&str], file: Option<&str>) -> Result<TestArgs, LoadError> {
    let default = dir.join("serve.toml");
    if let Some(text) = file {
        std::fs::write(&default, text).expect("write");
        std::fs::set_permissions(&default, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let default: &'static str = Box::leak(default.to_string_lossy().into_owned().into_boxed_str());
    let argv: Vec<OsString> = std::iter::once("t")
        .chain(argv.iter().copied())
        .map(OsString::from)
        .collect();
    let m = matches(TestCli::command(), argv, &[("serve", default)])?;
    let cli = <TestCli as clap::FromArgMatches>::from_arg_matches(&m)?;
    match cli.cmd {
        TestCmd::Serve(a) => Ok(a),
        TestCmd::Other => panic!("not serve"),
    }
}

fn config_err(r: Result<TestArgs, LoadError>) -> ConfigError {
    match r {
        Err(LoadError::Config(e)) => e,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn flag_beats_environment_beats_file_beats_default() {
    let dir = TempDir::new("cfg-precedence");
    let file = "listen = \"127.0.0.1:3\"\nlost-after = 7\nstate-dir = \"/srv/state\"\n";
    // Nothing but the file: its values, and defaults for what it leaves out.
    let a = run(dir.path(), &["serve"], Some(file)).expect("parse");
    assert_eq!(a.listen.port(), 3);
    assert_eq!(a.lost_after, 7);
    assert_eq!(a.state_dir, Path::new("/srv/state"));
    assert_eq!(a.reserved_ports, vec![22]);
    // The environment beats the file; the flag beats both.
    std::env::set_var("GANTRY_CFTEST_LISTEN", "127.0.0.1:4");
    std::env::set_var("GANTRY_CFTEST_LOST", "8");
    let a = run(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:5"],
        Some(file),
    )
    .expect("parse");
    std::env::remove_var("GANTRY_CFTEST_LISTEN");
    std::env::remove_var("GANTRY_CFTEST_LOST");
    assert_eq!(a.listen.port(), 5, "the flag wins");
    assert_eq!(a.lost_after, 8, "the environment beats the file");
    assert_eq!(a.state_dir, Path::new("/srv/state"));
}

#[test]
fn arrays_and_booleans() {
    let dir = TempDir::new("cfg-arrays");
    let file =
        "layout = [\"/a\", \"/b\"]\nreserved-ports = [22, 80]\nverbose = true\ntls = false\n";
    let a = run(dir.path(), &["serve"], Some(file)).expect("parse");
    assert_eq!(a.layouts, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(a.reserved_ports, vec![22, 80]);
    assert!(a.verbose);
    assert!(!a.tls);
    // A switch in the file gives way to a conflicting one on the command line.
    let a = run(dir.path(), &["serve", "--plain"], Some("tls = true\n")).expect("parse");
    assert!(a.plain && !a.tls);
}

#[test]
fn unknown_keys_are_each_named_with_the_file() {
    let dir = TempDir::new("cfg-unknown");
    let e = config_err(run(
        dir.path(),
        &["serve"],
        Some("listen = \"127.0.0.1:3\"\nbogus = 1\nstate_dir = \"/x\"\n"),
    ));
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::UnknownKeys { .. }), "{msg}");
    assert!(msg.contains("serve.toml"), "{msg}");
    assert!(msg.contains("bogus"), "{msg}");
    assert!(msg.contains("state_dir (did you mean state-dir?)"), "{msg}");
    assert!(!msg.contains("listen"), "{msg}");
}

#[test]
fn wrong_types_and_values_say_what_was_expected() {
    let dir = TempDir::new("cfg-types");
    let e = config_err(run(
        dir.path(),
        &["serve"],
        Some("listen = 8080\nlost-after = \"7\"\nlayout = \"/a\"\nverbose = \"yes\"\nreserved-ports = [22, \"x\"]\n"),
    ));
    let msg = e.to_string();
    for want in [
        "listen: expected a string, found integer 8080",
        "lost-after: expected an integer, found string \"7\"",
        "layout: expected an array of strings, found string \"/a\"",
        "verbose: expected true or false, found string \"yes\"",
        "reserved-ports: expected an array of integers, found string \"x\"",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
    let msg = config_err(run(dir.path(), &["serve"], Some("listen = \"nowhere\"\n"))).to_string();
    assert!(msg.contains("listen: invalid value \"nowhere\""), "{msg}");
    let msg = config_err(run(dir.path(), &["serve"], Some("listen = [\n"))).to_string();
    assert!(msg.contains("is not valid TOML"), "{msg}");
}

#[test]
fn a_missing_default_file_is_fine_a_missing_named_one_is_not() {
    let dir = TempDir::new("cfg-missing");
    let a = run(dir.path(), &["serve"], None).expect("no file, defaults");
    assert_eq!(a.lost_after, 30);
    let gone = dir.path().join("gone.toml");
    let gone = gone.to_string_lossy();
    let e = config_err(run(dir.path(), &["serve", "--config", &gone], None));
    assert!(matches!(e, ConfigError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("gone.toml"), "{e}");
    // Other commands never read it.
    let default = dir.path().join("serve.toml");
    std::fs::write(&default, "bogus = 1\n").expect("write");
    let argv = ["t", "other"].map(OsString::from).to_vec();
    let default: &'static str = Box::leak(default.to_string_lossy().into_owned().into_boxed_str());
    matches(TestCli::command(), argv, &[("serve", default)]).expect("other");
}

#[test]
fn a_file_with_a_secret_must_be_the_owners_alone() {
    let dir = TempDir::new("cfg-secret");
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, "secret = \"s3cr3t\"\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let p = path.to_string_lossy();
    let e = config_err(run(dir.path(), &["serve", "--config", &p], None));
    let msg = e.to_string();
    assert!(
        matches!(e, ConfigError::Exposed { mode: 0o644, .. }),
        "{msg}"
    );
    assert!(msg.contains("secret") && msg.contains("chmod 600"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let a = run(dir.path(), &["serve", "--config", &p], None).expect("0600 is fine");
    assert_eq!(a.secret.as_deref(), Some("s3cr3t"));
    // Without a secret the mode does not matter.
    std::fs::write(&path, "lost-after = 1\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    run(dir.path(), &["serve", "--config", &p], None).expect("no secret");
}

/// A value each flag's parser takes: its default, or one of its type.
fn sample(arg: &clap::Arg) -> toml::Value {
    use toml::Value;
    let one = |arg: &clap::Arg| -> Value {
        if let Some(d) = arg.get_default_values().first() {
            let d = d
                .to_string_lossy()
                .split(',')
                .next()
                .unwrap_or("")
                .to_string();
            return match kind(arg) {
                Kind::One(Scalar::Int) | Kind::List(Scalar::Int) => {
                    Value::Integer(d.parse().expect("an integer default"))
                }
                _ => Value::String(d),
            };
        }
        match kind(arg) {
            Kind::One(Scalar::Int) | Kind::List(Scalar::Int) => Value::Integer(1),
            _ if arg.get_value_parser().type_id() == TypeId::of::<std::net::Ipv4Addr>() => {
                Value::String("10.0.0.1".into())
            }
            _ => Value::String("10.0.0.0/24".into()),
        }
    };
    match kind(arg) {
        Kind::Switch => Value::Boolean(true),
        Kind::One(_) => one(arg),
        Kind::List(_) => Value::Array(vec![one(arg)]),
    }
}

#[test]
fn every_flag_of_server_and_agent_is_a_key() {
    let dir = TempDir::new("cfg-every");
    let path = dir.path().join("x.toml");
    std::fs::write(&path, "").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let cmd = with_config_flag(crate::cmd::Cli::command(), FILES);
    for (name, _) in FILES {
        let sub = cmd.find_subcommand(name).expect("subcommand");
        let args = key_args(sub);
        assert!(args.len() > 5, "{name}: {:?}", keys(sub));
        for arg in args {
            let key = arg.get_long().expect("long");
            let mut table = toml::Table::new();
            table.insert(key.to_string(), sample(arg));
            let out = to_args(sub, &path, &table, None)
                .unwrap_or_else(|e| panic!("`{name}` refuses its key {key}: {e}"));
            assert!(
                out.iter()
                    .all(|o| o.to_string_lossy().starts_with(&format!("--{key}"))),
                "{name} {key}: {out:?}"
            );
        }
        assert!(!keys(sub).iter().any(|k| k == "config" || k == "help"));
    }
}

#[test]
fn the_real_command_reads_its_file() {
    let dir = TempDir::new("cfg-real");
    let path = dir.path().join("server.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9999\"\nregion = \"eu-west-1\"\ntls-san = [\"a.example\"]\ntls = true\n",
    )
    .expect("write");
    let argv = ["gantry", "server", "--config", &path.to_string_lossy()]
        .map(OsString::from)
        .to_vec();
    let m = matches(crate::cmd::Cli::command(), argv, FILES).expect("parse");
    let cli = <crate::cmd::Cli as clap::FromArgMatches>::from_arg_matches(&m).expect("cli");
    let crate::cmd::Command::Server(a) = cli.command else {
        panic!("not server")
    };
    assert_eq!(a.listen.port(), 9999);
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(a.security.tls_san, vec!["a.example".to_string()]);
    assert!(a.security.tls);
}
