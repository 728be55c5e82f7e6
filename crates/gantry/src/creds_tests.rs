use std::collections::HashMap;
use std::path::PathBuf;

use super::*;

/// A home directory with optional `.aws/credentials` and `.aws/config`.
struct Home {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Home {
    fn new(credentials: Option<&str>, config: Option<&str>) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gantry-creds-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let aws = dir.join(".aws");
        std::fs::create_dir_all(&aws).expect("home");
        if let Some(c) = credentials {
            std::fs::write(aws.join("credentials"), c).expect("credentials");
        }
        if let Some(c) = config {
            std::fs::write(aws.join("config"), c).expect("config");
        }
        let mut env = HashMap::new();
        env.insert("HOME".to_string(), dir.display().to_string());
        Self { dir, env }
    }

    fn set(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.to_string(), v.to_string());
        self
    }

    fn resolve(&self, flags: &Flags) -> Result<Resolved, CredsError> {
        resolve(flags, &|k| self.env.get(k).cloned())
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const FILE: &str = "\
# comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default-secret

[ops]
aws_access_key_id=AKIAOPS
aws_secret_access_key=ops-secret
aws_session_token=ops-token
";

const CONFIG: &str = "\
[default]
region = eu-west-1

[profile ops]
region = ap-south-1
s3 =
  max_concurrent_requests = 5

[profile cfgonly]
aws_access_key_id = AKIACFG
aws_secret_access_key = cfg-secret
ca_bundle = /etc/gantry/ca.pem
";

#[test]
fn environment_keys_come_first() {
    let home = Home::new(Some(FILE), Some(CONFIG))
        .set("AWS_ACCESS_KEY_ID", "AKIAENV")
        .set("AWS_SECRET_ACCESS_KEY", "env-secret")
        .set("AWS_SESSION_TOKEN", "env-token")
        .set("AWS_PROFILE", "ops");
    let r = home.resolve(&Flags::default()).expect("resolved");
    assert_eq!(r.creds.access_key_id, "AKIAENV");
    assert_eq!(r.creds.session_token.as_deref(), Some("env-token"));
    assert_eq!(r.source, "the environment");
    // The profile still gives the region.
    assert_eq!(r.region, "ap-south-1");
}

#[test]
fn the_default_profile_of_the_credentials_file() {
    let home = Home::new(Some(FILE), Some(CONFIG));
    let r = home.resolve(&Flags::default()).expect("resolved");
    assert_eq!(r.creds.access_key_id, "AKIADEFAULT");
    assert_eq!(r.creds.secret_access_key, "default-secret");
    assert_eq!(r.creds.session_token, None);
    assert_eq!(r.region, "eu-west-1");
    assert!(r.source.contains(".aws/credentials"), "{}", r.source);
}

#[test]
fn an_explicit_profile_wins_over_environment_keys() {
    let home = Home::new(Some(FILE), Some(CONFIG))
        .set("AWS_ACCESS_KEY_ID", "AKIAENV")
        .set("AWS_SECRET_ACCESS_KEY", "env-secret");
    let flags = Flags {
        profile: Some("ops".into()),
        ..Flags::default()
    };
    let r = home.resolve(&flags).expect("resolved");
    assert_eq!(r.creds.access_key_id, "AKIAOPS");
    assert_eq!(r.creds.session_token.as_deref(), Some("ops-token"));
    assert_eq!(r.region, "ap-south-1");
}

#[test]
fn a_profile_with_keys_only_in_the_config_file() {
    let home = Home::new(None, Some(CONFIG)).set("AWS_PROFILE", "cfgonly");
    let r = home.resolve(&Flags::default()).expect("resolved");
    assert_eq!(r.creds.access_key_id, "AKIACFG");
    assert_eq!(r.region, DEFAULT_REGION);
    assert_eq!(r.ca_bundle, Some(PathBuf::from("/etc/gantry/ca.pem")));
}

#[test]
fn the_shared_credentials_file_variable_names_the_file() {
    let home = Home::new(None, None);
    let file = home.dir.join("state-credentials");
    std::fs::write(&file, FILE).expect("write");
    let home = home.set("AWS_SHARED_CREDENTIALS_FILE", &file.display().to_string());
    let r = home.resolve(&Flags::default()).expect("resolved");
    assert_eq!(r.creds.access_key_id, "AKIADEFAULT");
}

#[test]
fn region_precedence() {
    let home = Home::new(Some(FILE), Some(CONFIG)).set("AWS_DEFAULT_REGION", "us-west-2");
    assert_eq!(
        home.resolve(&Flags::default()).expect("ok").region,
        "us-west-2"
    );
    let home = home.set("AWS_REGION", "us-east-2");
    assert_eq!(
        home.resolve(&Flags::default()).expect("ok").region,
        "us-east-2"
    );
    let flags = Flags {
        region: Some("local".into()),
        ca_bundle: Some("/ca.pem".into()),
        ..Flags::default()
    };
    let home = home.set("AWS_CA_BUNDLE", "/other.pem");
    let r = home.resolve(&flags).expect("ok");
    assert_eq!(r.region, "local");
    assert_eq!(r.ca_bundle, Some(PathBuf::from("/ca.pem")));
    let home = Home::new(Some(FILE), None);
    assert_eq!(
        home.resolve(&Flags::default()).expect("ok").region,
        DEFAULT_REGION
    );
}

#[test]
fn nothing_found_says_where_it_looked_and_names_the_state_dir_file() {
    let home = Home::new(None, None);
    let e = home
        .resolve(&Flags::default())
        .expect_err("no credentials")
        .to_string();
    assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    assert!(e.contains(".aws/credentials"), "{e}");
    assert!(e.contains(".aws/config"), "{e}");
    assert!(e.contains("<state-dir>/credentials"), "{e}");
}

#[test]
fn a_missing_or_incomplete_profile_is_named() {
    let home = Home::new(Some(FILE), None).set("AWS_PROFILE", "nope");
    let e = home
        .resolve(&Flags::default())
        .expect_err("no profile")
        .to_string();
    assert!(e.contains("\"nope\""), "{e}");
    let home = Home::new(Some("[default]\naws_access_key_id = AKIAX\n"), None);
    let e = home
        .resolve(&Flags::default())
        .expect_err("incomplete")
        .to_string();
    assert!(e.contains("aws_secret_access_key"), "{e}");
    let home = Home::new(None, None).set("AWS_ACCESS_KEY_ID", "AKIAENV");
    assert!(matches!(
        home.resolve(&Flags::default()),
        Err(CredsError::HalfEnv)
    ));
}
