//! Privileged tests of the default sandbox, observed from inside a container.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{exit_code, Task};

/// Prints `key: value` lines the tests read back.
const PROBE: &str = r#"
grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status
echo "kcore: $(head -c 16 /proc/kcore 2>/dev/null | wc -c)"
echo "keys: $(cat /proc/keys 2>/dev/null | wc -c)"
echo "firmware: $(ls -A /sys/firmware 2>/dev/null | wc -l)"
if echo gantry > /proc/sys/kernel/domainname 2>/dev/null; then echo "procsys: writable"; else echo "procsys: read-only"; fi
if echo 1 > /proc/sysrq-trigger 2>/dev/null; then echo "sysrq: writable"; else echo "sysrq: read-only"; fi
echo "unshare: $(unshare -U true 2>&1 && echo ok)"
sleep 0.1 && echo "sleep: ok"
"#;

fn probe(
    tweak: impl FnOnce(&mut gantry_runtime::spec::ContainerConfig),
) -> Result<Vec<(String, String)>> {
    let mut task = Task::new("sandbox")?;
    task.add("probe", &["sh", "-c", PROBE], true, 5, tweak)?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "probe") == Some(0), "{events:#?}");
    let out = task.stdout("probe");
    eprintln!("{out}");
    task.assert_clean()?;
    out.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(':')
                .with_context(|| format!("bad line {l:?}"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Result<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .with_context(|| format!("no {key} in {fields:?}"))
}

#[test]
fn default_sandbox_seen_from_inside() -> Result<()> {
    let f = probe(|_| {})?;
    // Docker's 14 capabilities.
    ensure!(field(&f, "CapEff")? == "00000000a80425fb", "{f:?}");
    ensure!(field(&f, "NoNewPrivs")? == "1", "{f:?}");
    ensure!(field(&f, "Seccomp")? == "2", "{f:?}");
    ensure!(field(&f, "kcore")? == "0", "/proc/kcore readable: {f:?}");
    ensure!(field(&f, "keys")? == "0", "/proc/keys readable: {f:?}");
    ensure!(field(&f, "firmware")? == "0", "/sys/firmware listed: {f:?}");
    ensure!(field(&f, "procsys")? == "read-only", "{f:?}");
    ensure!(field(&f, "sysrq")? == "read-only", "{f:?}");
    // unshare(CLONE_NEWUSER) needs no capability; only seccomp refuses it.
    let unshare = field(&f, "unshare")?;
    ensure!(
        unshare.contains("Operation not permitted"),
        "unshare: {unshare}"
    );
    ensure!(field(&f, "sleep")? == "ok", "{f:?}");
    Ok(())
}

#[test]
fn cap_add_and_drop_reach_the_process() -> Result<()> {
    let f = probe(|c| {
        c.cap_add = vec!["NET_ADMIN".into()];
        c.cap_drop = vec!["CAP_NET_RAW".into()];
    })?;
    // + CAP_NET_ADMIN (bit 12), - CAP_NET_RAW (bit 13).
    ensure!(field(&f, "CapEff")? == "00000000a80415fb", "{f:?}");
    ensure!(field(&f, "Seccomp")? == "2", "{f:?}");
    Ok(())
}

#[test]
fn privileged_has_every_capability_and_no_seccomp() -> Result<()> {
    let f = probe(|c| c.privileged = true)?;
    // Every capability the node itself may hand on (its bounding set).
    let status = std::fs::read_to_string("/proc/self/status")?;
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .context("no CapBnd")?
        .trim();
    ensure!(
        field(&f, "CapEff")? == bounding,
        "{f:?} vs bounding {bounding}"
    );
    ensure!(field(&f, "Seccomp")? == "0", "{f:?}");
    ensure!(field(&f, "NoNewPrivs")? == "1", "{f:?}");
    // The same unshare succeeds without the profile: the refusal above was seccomp's.
    ensure!(field(&f, "unshare")? == "ok", "{f:?}");
    Ok(())
}

/// Host uid 100000 onwards: the range a user namespace maps container ids 0.. to.
const USERNS_FIRST: u32 = 100_000;

#[test]
fn user_namespace_makes_container_root_an_unprivileged_host_user() -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut task = Task::new("userns")?;
    // A volume anyone may write to, and one only host root may write to.
    let open = task.dir.join("open");
    let root_only = task.dir.join("root-only");
    for (dir, mode) in [(&open, 0o777), (&root_only, 0o755)] {
        std::fs::create_dir(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    let script = r#"
echo "uid_map: $(cat /proc/self/uid_map)"
echo "gid_map: $(cat /proc/self/gid_map)"
echo "id: $(id -u):$(id -g)"
touch /open/made-inside && echo "open: ok"
if touch /root-only/x 2>/dev/null; then echo "root-only: writable"; else echo "root-only: denied"; fi
"#;
    let range = gantry_runtime::spec::IdRange {
        first: USERNS_FIRST,
        count: 65536,
    };
    // What the agent does to the overlay rootfs of such a container.
    range.own_rootfs(&task.rootfs)?;
    let (o, r) = (open.clone(), root_only.clone());
    task.add("probe", &["sh", "-c", script], true, 5, move |c| {
        c.user_namespace = Some(range);

        for (source, destination) in [(o, "/open"), (r, "/root-only")] {
            c.mounts.push(gantry_runtime::spec::BindMount {
                source,
                destination: destination.into(),
                readonly: false,
            });
        }
    })?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    let out = task.output("probe", None);
    eprintln!("{out}");
    ensure!(exit_code(&events, "probe") == Some(0), "{events:#?}\n{out}");
    let f: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    ensure!(field(&f, "uid_map")? == "0 100000 65536", "{f:?}");
    ensure!(field(&f, "gid_map")? == "0 100000 65536", "{f:?}");
    // Root inside...
    ensure!(field(&f, "id")? == "0:0", "{f:?}");
    ensure!(field(&f, "open")? == "ok", "{f:?}");
    // ...is host uid 100000 outside, with no power over host root's files.
    let made = std::fs::metadata(open.join("made-inside"))?;
    ensure!(
        (made.uid(), made.gid()) == (USERNS_FIRST, USERNS_FIRST),
        "file made by container root is owned by {}:{} on the host",
        made.uid(),
        made.gid()
    );
    ensure!(field(&f, "root-only")? == "denied", "{f:?}");
    task.assert_clean()
}
