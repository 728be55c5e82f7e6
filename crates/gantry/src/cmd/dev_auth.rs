//! `gantry dev`'s own credentials: the administrator's access key, which its client (waiting
//! for agents, the demo) and its local agents sign with.
//!
//! For now the agents use the administrator's key too; when IAM can make a user with a node
//! policy, `gantry dev` should make one and give the agents that key instead.

use std::path::Path;

use gantry_link::Signer;

/// The administrator key `gantry dev` serves: the one passed with `--admin-access-key-id` /
/// `--admin-secret-access-key` (`flag_id`, `flag_secret`), else the one in
/// `<state-dir>/credentials` (profile `default`), which the server writes on first start.
/// `None` when there is neither (a server that checks no credentials).
pub fn admin_signer(
    state_dir: &Path,
    region: &str,
    flag_id: Option<&str>,
    flag_secret: Option<&str>,
) -> anyhow::Result<Option<Signer>> {
    if let (Some(id), Some(secret)) = (flag_id, flag_secret) {
        let creds = gantry_link::Credentials::new(id, secret);
        return Ok(Some(Signer::new(creds, region)));
    }
    let file = state_dir.join("credentials");
    if !file.exists() {
        return Ok(None);
    }
    let path = file.display().to_string();
    let flags = crate::creds::Flags {
        profile: Some("default".to_string()),
        region: Some(region.to_string()),
        ca_bundle: None,
    };
    // Only that file: not the user's own ~/.aws.
    let r = crate::creds::resolve(&flags, &|k| {
        matches!(k, "AWS_SHARED_CREDENTIALS_FILE" | "AWS_CONFIG_FILE").then(|| path.clone())
    })?;
    Ok(Some(Signer::new(r.creds, r.region)))
}

/// The same key from the environment `gantry server`'s flags read, until the admin flags
/// are on `ServerArgs`.
pub fn admin_key_env() -> (Option<String>, Option<String>) {
    let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    (
        var("GANTRY_ADMIN_ACCESS_KEY_ID"),
        var("GANTRY_ADMIN_SECRET_ACCESS_KEY"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_first_then_the_state_dir_file() {
        let dir = std::env::temp_dir().join(format!("gantry-dev-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(admin_signer(&dir, "us-east-1", None, None)
            .expect("ok")
            .is_none());
        std::fs::write(
            dir.join("credentials"),
            "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s\n",
        )
        .expect("write");
        let s = admin_signer(&dir, "local", None, None)
            .expect("ok")
            .expect("a key");
        assert_eq!((s.access_key_id(), s.region()), ("AKIAFILE", "local"));
        let s = admin_signer(&dir, "local", Some("AKIAFLAG"), Some("x"))
            .expect("ok")
            .expect("a key");
        assert_eq!(s.access_key_id(), "AKIAFLAG");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
