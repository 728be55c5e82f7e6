use std::collections::HashSet;

use oci_spec::runtime::{
    Capability, LinuxNamespaceType, LinuxSeccomp, LinuxSeccompAction, PosixRlimitType,
};

use super::*;

fn rootfs() -> PathBuf {
    static ROOTFS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let dir = std::env::temp_dir().join("gantry-spec-test-rootfs");
            std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
            std::fs::write(
                dir.join("etc/passwd"),
                "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
            )
            .expect("passwd");
            std::fs::write(dir.join("etc/group"), "root:x:0:\napp:x:1000:\n").expect("group");
            dir
        })
        .clone()
}

fn config() -> ContainerConfig {
    ContainerConfig {
        rootfs: rootfs(),
        args: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
        env: vec!["FOO=bar".into()],
        cwd: "/".into(),
        user: None,
        hostname: Some("web".into()),
        readonly_rootfs: false,
        ulimits: vec![],
        mounts: vec![],
        network: NetworkMode::New,
        cpu_shares: Some(512),
        memory_limit: Some(64 << 20),
        memory_reservation: Some(32 << 20),
        pids_limit: Some(100),
        cgroups_path: "/gantry/t1/web".into(),
        cap_add: vec![],
        cap_drop: vec![],
        privileged: false,
        user_namespace: None,
    }
}

#[test]
fn defaults_match_docker() {
    let spec = build_spec(&config()).expect("spec");
    let process = spec.process().as_ref().expect("process");
    let caps = process.capabilities().as_ref().expect("caps");
    let want: HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
    assert_eq!(want.len(), 14);
    assert_eq!(caps.bounding().as_ref(), Some(&want));
    assert_eq!(caps.effective().as_ref(), Some(&want));
    assert_eq!(caps.permitted().as_ref(), Some(&want));
    assert!(caps.ambient().as_ref().is_none_or(|a| a.is_empty()));
    assert!(caps.inheritable().as_ref().is_none_or(|a| a.is_empty()));
    assert!(!want.contains(&Capability::SysAdmin));
    assert_eq!(process.no_new_privileges(), Some(true));
    assert_eq!(process.terminal(), Some(false));

    let linux = spec.linux().as_ref().expect("linux");
    let ns: Vec<_> = linux
        .namespaces()
        .as_ref()
        .expect("ns")
        .iter()
        .map(|n| n.typ())
        .collect();
    for t in [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Network,
    ] {
        assert!(ns.contains(&t), "missing {t:?}");
    }
    assert!(!ns.contains(&LinuxNamespaceType::User));
    let masked = linux.masked_paths().as_ref().expect("masked");
    assert!(masked.contains(&"/proc/kcore".to_string()));
    assert!(masked.contains(&"/sys/devices/virtual/powercap".to_string()));
    assert_eq!(masked.len(), 10);
    assert!(linux
        .readonly_paths()
        .as_ref()
        .expect("ro")
        .contains(&"/proc/sysrq-trigger".to_string()));
    let seccomp = linux.seccomp().as_ref().expect("seccomp");
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(1));
    let allowed = allowed_names(seccomp);
    for name in ["read", "execve", "clone", "socket", "chroot"] {
        assert!(allowed.contains(name), "{name} not allowed");
    }
    for name in ["mount", "unshare", "setns", "reboot", "init_module", "bpf"] {
        assert!(
            !allowed.contains(name),
            "{name} allowed without its capability"
        );
    }
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(Path::new("/gantry/t1/web"))
    );

    let dests: Vec<_> = spec
        .mounts()
        .as_ref()
        .expect("mounts")
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys"
        ]
    );
    let sys = &spec.mounts().as_ref().expect("mounts")[5];
    assert!(sys.options().as_ref().expect("opts").contains(&"ro".into()));
    assert_eq!(spec.hostname().as_deref(), Some("web"));
    assert_eq!(spec.version(), "1.0.2");
}

#[test]
fn resources_env_and_user() {
    let mut cfg = config();
    cfg.user = Some("app".into());
    cfg.ulimits = vec![Ulimit {
        name: "nofile".into(),
        soft: 1024,
        hard: 4096,
    }];
    let spec = build_spec(&cfg).expect("spec");
    let process = spec.process().as_ref().expect("process");
    assert_eq!(process.user().uid(), 1000);
    assert_eq!(process.user().gid(), 1000);
    let env = process.env().as_ref().expect("env");
    assert_eq!(env[0], DEFAULT_PATH);
    assert!(env.contains(&"FOO=bar".to_string()));
    let rl = &process.rlimits().as_ref().expect("rlimits")[0];
    assert_eq!(
        (rl.typ(), rl.soft(), rl.hard()),
        (PosixRlimitType::RlimitNofile, 1024, 4096)
    );

    let res = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .expect("resources");
    let mem = res.memory().as_ref().expect("memory");
    assert_eq!(mem.limit(), Some(64 << 20));
    assert_eq!(mem.reservation(), Some(32 << 20));
    assert_eq!(res.cpu().as_ref().and_then(|c| c.shares()), Some(512));
    assert_eq!(res.pids().as_ref().map(|p| p.limit()), Some(100));
    let devs = res.devices().as_ref().expect("devices");
    assert!(!devs[0].allow(), "device access is deny-by-default");

    // An explicit PATH is kept as given.
    cfg.env = vec!["PATH=/opt/bin".into()];
    let spec = build_spec(&cfg).expect("spec");
    let env = spec.process().as_ref().and_then(|p| p.env().clone());
    assert_eq!(env, Some(vec!["PATH=/opt/bin".to_string()]));
}

#[test]
fn network_modes() {
    let net = |mode| {
        let mut cfg = config();
        cfg.network = mode;
        let spec = build_spec(&cfg).expect("spec");
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .expect("ns")
            .into_iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
    };
    assert!(net(NetworkMode::Host).is_none());
    assert_eq!(net(NetworkMode::New).expect("new").path(), &None);
    let joined = net(NetworkMode::Path("/run/gantry/netns/t1".into())).expect("path");
    assert_eq!(
        joined.path().as_deref(),
        Some(Path::new("/run/gantry/netns/t1"))
    );
}

#[test]
fn bind_mounts_and_readonly_rootfs() {
    let mut cfg = config();
    cfg.readonly_rootfs = true;
    cfg.mounts = vec![BindMount {
        source: "/var/lib/gantry/volumes/data".into(),
        destination: "/data".into(),
        readonly: true,
    }];
    let spec = build_spec(&cfg).expect("spec");
    assert_eq!(spec.root().as_ref().and_then(|r| r.readonly()), Some(true));
    let m = spec
        .mounts()
        .as_ref()
        .and_then(|m| m.last())
        .expect("mount");
    assert_eq!(m.destination(), Path::new("/data"));
    assert_eq!(m.typ().as_deref(), Some("bind"));
    let opts = m.options().as_ref().expect("opts");
    assert!(opts.contains(&"rbind".into()) && opts.contains(&"ro".into()));
}

#[test]
fn rejects_bad_input() {
    let bad = |f: &dyn Fn(&mut ContainerConfig)| {
        let mut cfg = config();
        f(&mut cfg);
        build_spec(&cfg).expect_err("must be rejected")
    };
    for cwd in [
        "/proc/self/fd/7",
        "//proc/./self/fd/3",
        "/proc/self/fd",
        "/proc/thread-self/fd/1",
    ] {
        assert!(
            matches!(bad(&|c| c.cwd = cwd.into()), SpecError::UnsafeCwd(_)),
            "{cwd}"
        );
    }
    assert!(matches!(
        bad(&|c| c.cwd = "work".into()),
        SpecError::RelativeCwd(_)
    ));
    assert!(matches!(
        bad(&|c| c.cwd = "/a/../b".into()),
        SpecError::RelativeCwd(_)
    ));
    assert!(matches!(bad(&|c| c.args.clear()), SpecError::EmptyArgs));
    assert!(matches!(
        bad(&|c| c.user = Some("ghost".into())),
        SpecError::UnknownUser(u) if u == "ghost"
    ));
    assert!(matches!(
        bad(&|c| c.env = vec!["NOEQUALS".into()]),
        SpecError::InvalidEnv(_)
    ));
    assert!(matches!(
        bad(&|c| c.cpu_shares = Some(1)),
        SpecError::CpuShares(1)
    ));
    assert!(matches!(
        bad(&|c| c.memory_limit = Some(1024)),
        SpecError::MemoryTooSmall { .. }
    ));
    assert!(matches!(
        bad(&|c| c.memory_reservation = Some(128 << 20)),
        SpecError::ReservationAboveLimit { .. }
    ));
    assert!(matches!(
        bad(&|c| c.pids_limit = Some(0)),
        SpecError::PidsLimit(0)
    ));
    assert!(matches!(
        bad(&|c| c.cgroups_path = "gantry/../x".into()),
        SpecError::CgroupsPath(_)
    ));
    assert!(matches!(
        bad(&|c| c.ulimits = vec![Ulimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1
        }]),
        SpecError::UnknownUlimit(_)
    ));
    assert!(matches!(
        bad(&|c| c.ulimits = vec![Ulimit {
            name: "nofile".into(),
            soft: 9,
            hard: 1
        }]),
        SpecError::UlimitSoftAboveHard { .. }
    ));
    assert!(matches!(
        bad(&|c| c.mounts = vec![BindMount {
            source: "/x".into(),
            destination: "rel".into(),
            readonly: false
        }]),
        SpecError::BadMountDestination(_)
    ));
}

fn allowed_names(seccomp: &LinuxSeccomp) -> HashSet<String> {
    seccomp
        .syscalls()
        .as_ref()
        .expect("rules")
        .iter()
        .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
        .flat_map(|r| r.names().iter().cloned())
        .collect()
}

#[test]
fn capabilities_bring_their_syscalls() {
    let mut cfg = config();
    cfg.cap_add = vec!["CAP_SYS_ADMIN".into(), "net_admin".into()];
    cfg.cap_drop = vec!["SYS_CHROOT".into()];
    let spec = build_spec(&cfg).expect("spec");
    let caps = spec
        .process()
        .as_ref()
        .expect("process")
        .capabilities()
        .clone();
    let effective = caps.expect("caps").effective().clone().expect("effective");
    assert!(effective.contains(&Capability::SysAdmin) && effective.contains(&Capability::NetAdmin));
    assert!(!effective.contains(&Capability::SysChroot));
    let linux = spec.linux().as_ref().expect("linux");
    let allowed = allowed_names(linux.seccomp().as_ref().expect("seccomp"));
    assert!(allowed.contains("mount") && allowed.contains("unshare"));
    assert!(!allowed.contains("chroot"));
    cfg.cap_add = vec!["FLY".into()];
    assert!(matches!(
        build_spec(&cfg),
        Err(SpecError::UnknownCapability(_))
    ));
}

#[test]
fn privileged_drops_the_sandbox() {
    let mut cfg = config();
    cfg.privileged = true;
    let spec = build_spec(&cfg).expect("spec");
    let caps = spec
        .process()
        .as_ref()
        .expect("process")
        .capabilities()
        .clone();
    assert!(caps.expect("caps").bounding().clone().expect("b").len() > 30);
    let linux = spec.linux().as_ref().expect("linux");
    assert!(linux.seccomp().is_none());
    assert!(linux.masked_paths().as_ref().is_none_or(|m| m.is_empty()));
    assert!(linux.readonly_paths().as_ref().is_none_or(|m| m.is_empty()));
    let devices = linux
        .resources()
        .as_ref()
        .expect("res")
        .devices()
        .clone()
        .expect("dev");
    assert!(devices.iter().all(|d| d.allow()));
    let sys = spec
        .mounts()
        .as_ref()
        .expect("mounts")
        .iter()
        .find(|m| m.destination() == Path::new("/sys"))
        .expect("sys")
        .clone();
    assert!(sys
        .options()
        .as_ref()
        .expect("opts")
        .contains(&"rw".to_string()));
}

#[test]
fn user_namespace_maps_ids_and_binds_sys_when_joining_a_netns() {
    let mut cfg = config();
    cfg.user_namespace = Some(IdRange {
        first: 100_000,
        count: 65_536,
    });
    let spec = build_spec(&cfg).expect("spec");
    let linux = spec.linux().as_ref().expect("linux");
    let ns = linux.namespaces().as_ref().expect("namespaces");
    assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
    for maps in [linux.uid_mappings(), linux.gid_mappings()] {
        let m = &maps.as_ref().expect("mappings")[0];
        assert_eq!(
            (m.container_id(), m.host_id(), m.size()),
            (0, 100_000, 65_536)
        );
    }
    let sys = |spec: &oci_spec::runtime::Spec| {
        spec.mounts()
            .as_ref()
            .and_then(|ms| ms.iter().find(|m| m.destination() == Path::new("/sys")))
            .and_then(|m| m.typ().clone())
    };
    // A fresh network namespace is the user namespace's own: sysfs can be mounted.
    assert_eq!(sys(&spec).as_deref(), Some("sysfs"));
    cfg.network = NetworkMode::Host;
    assert_eq!(
        sys(&build_spec(&cfg).expect("spec")).as_deref(),
        Some("bind")
    );
    for bad in [(0, 65_536), (100_000, 0), (u32::MAX, 2)] {
        cfg.user_namespace = Some(IdRange {
            first: bad.0,
            count: bad.1,
        });
        assert!(matches!(
            build_spec(&cfg),
            Err(SpecError::UserNamespaceRange(_))
        ));
    }
}
