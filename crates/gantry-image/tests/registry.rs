//! Pulls from a real docker-registry on loopback (anonymous and htpasswd basic auth).

mod common;

use anyhow::Result;
use common::{Registry, TempDir};
use gantry_image::{ImageError, ImageStore, ImageStoreConfig, PullPolicy, RegistryAuth};

fn fresh_store(root: &TempDir, name: &str) -> Result<ImageStore> {
    Ok(ImageStore::open(ImageStoreConfig::new(
        root.path().join(name),
    ))?)
}

#[tokio::test]
async fn pull_from_registry_and_policies() -> Result<()> {
    let images = TempDir::new("images");
    common::build_images(images.path())?;
    let root = TempDir::new("store");
    let digest;
    {
        let registry = Registry::start(None)?;
        registry.push(images.path(), None)?;
        let store = fresh_store(&root, "a")?;
        let reference = format!("{}/busybox:latest", registry.addr);
        let image = store.ensure(&reference, PullPolicy::Always, None).await?;
        assert_eq!(image.reference, reference);
        assert_eq!(image.config.cmd, vec!["sh"]);
        assert!(image.layers[0].join("bin/busybox").is_file());
        digest = image.digest.clone();

        let web = store
            .ensure(
                &format!("{}/web:latest", registry.addr),
                PullPolicy::Default,
                None,
            )
            .await?;
        assert_eq!(web.layers[0], image.layers[0], "shared layer unpacked once");

        // By digest.
        let by_digest = format!("{}/busybox@{digest}", registry.addr);
        assert_eq!(
            store
                .ensure(&by_digest, PullPolicy::Always, None)
                .await?
                .digest,
            digest
        );

        let missing = format!("{}/busybox:nope", registry.addr);
        let err = store
            .ensure(&missing, PullPolicy::Default, None)
            .await
            .expect_err("missing tag");
        let reason = err.cannot_pull_reason();
        assert_eq!(
            reason,
            format!(
                "CannotPullContainerError: pull image manifest has been retried 1 time(s): \
                 failed to resolve ref {missing}: not found"
            )
        );
        let missing_repo = format!("{}/nothing-here:latest", registry.addr);
        let err = store
            .ensure(&missing_repo, PullPolicy::Default, None)
            .await
            .expect_err("missing repository");
        assert!(err.cannot_pull_reason().ends_with(": not found"), "{err}");
    }
    // The registry is gone: policies decide whether the cache may be used.
    let store = fresh_store(&root, "a")?;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("a/references.json"))?)?;
    let reference = index["references"]
        .as_object()
        .and_then(|m| m.keys().find(|k| k.ends_with("/busybox:latest")).cloned())
        .expect("busybox recorded in the reference index");
    for policy in [
        PullPolicy::Default,
        PullPolicy::Once,
        PullPolicy::PreferCached,
    ] {
        let image = store.ensure(&reference, policy, None).await?;
        assert_eq!(image.digest, digest, "{policy:?} uses the cache");
    }
    let err = store
        .ensure(&reference, PullPolicy::Always, None)
        .await
        .expect_err("always needs the registry");
    assert!(matches!(err, ImageError::Registry(_)), "{err}");
    let reason = err.cannot_pull_reason();
    eprintln!("registry down: {reason}");
    assert!(
        reason.starts_with(
            "CannotPullContainerError: pull image manifest has been retried 3 time(s)"
        ),
        "{reason}"
    );
    // Never pulled by this store: `once` must pull, and fails.
    let fresh = fresh_store(&root, "b")?;
    assert!(fresh
        .ensure(&reference, PullPolicy::Once, None)
        .await
        .is_err());
    Ok(())
}

#[tokio::test]
async fn pull_with_basic_auth() -> Result<()> {
    let images = TempDir::new("images");
    common::build_images(images.path())?;
    let registry = Registry::start(Some(("gantry", "s3cret")))?;
    registry.push(images.path(), Some("gantry:s3cret"))?;
    let root = TempDir::new("store");
    let reference = format!("{}/busybox:latest", registry.addr);

    let err = fresh_store(&root, "anon")?
        .ensure(&reference, PullPolicy::Always, None)
        .await
        .expect_err("anonymous pull must fail");
    eprintln!("anonymous: {}", err.cannot_pull_reason());
    assert!(
        err.cannot_pull_reason().contains("pull access denied"),
        "{err}"
    );

    let wrong = RegistryAuth {
        username: "gantry".into(),
        password: "wrong".into(),
    };
    let err = fresh_store(&root, "wrong")?
        .ensure(&reference, PullPolicy::Always, Some(&wrong))
        .await
        .expect_err("wrong password must fail");
    assert!(
        err.cannot_pull_reason().contains("pull access denied"),
        "{err}"
    );
    assert!(
        !format!("{wrong:?}").contains("wrong\""),
        "password is redacted"
    );

    let right = RegistryAuth {
        username: "gantry".into(),
        password: "s3cret".into(),
    };
    let image = fresh_store(&root, "right")?
        .ensure(&reference, PullPolicy::Always, Some(&right))
        .await?;
    assert!(image.layers[0].join("bin/busybox").is_file());
    Ok(())
}
