//! Building the OCI runtime spec (`config.json`) of one container from what the agent knows.
//! Pure apart from reading the image's /etc/passwd and /etc/group for `user`.

mod capabilities;
mod defaults;
mod seccomp;
mod user;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use serde::{Deserialize, Serialize};

pub use capabilities::ALL_CAPABILITIES;
pub use defaults::{DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS};
pub use user::{ensure_mount_file, resolve_user, IdRange, ResolvedUser};

/// OCI runtime-spec version we write.
const OCI_VERSION: &str = "1.0.2";
/// Docker's lower bound; the kernel would silently clamp smaller values.
const MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;
const MAX_CPU_SHARES: u64 = 262_144;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// ECS name: "nofile", "nproc", "core", ...
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Share the host's network namespace.
    Host,
    /// Join an existing namespace (a bind-mounted nsfs file set up by gantry-net).
    Path(PathBuf),
    /// A fresh, empty namespace (loopback only).
    New,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Already-mounted rootfs.
    pub rootfs: PathBuf,
    /// Final argv (entrypoint and command already merged).
    pub args: Vec<String>,
    /// `KEY=VALUE`; `PATH` is added when missing.
    pub env: Vec<String>,
    pub cwd: String,
    /// "uid", "uid:gid", "name", "name:group"; names resolved in the image.
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub readonly_rootfs: bool,
    pub ulimits: Vec<Ulimit>,
    pub mounts: Vec<BindMount>,
    pub network: NetworkMode,
    pub cpu_shares: Option<u64>,
    pub memory_limit: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub pids_limit: Option<i64>,
    /// e.g. "/gantry/<task_id>/<container_name>": a child of the task cgroup.
    pub cgroups_path: String,
    /// `linuxParameters.capabilities.add`: "NET_ADMIN", "CAP_NET_ADMIN" or "ALL".
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// `linuxParameters.capabilities.drop`, same names; "ALL" starts from none.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Every capability, no seccomp, no masked or read-only paths, every device, a
    /// writable /sys. Only set it where the agent's configuration allows it.
    #[serde(default)]
    pub privileged: bool,
    /// Run in a new user namespace whose ids 0.. are host ids `first`.. (`count` of them):
    /// the container's root is an unprivileged host user.
    #[serde(default)]
    pub user_namespace: Option<IdRange>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("container command is empty: give an entryPoint or a command")]
    EmptyArgs,
    #[error("{what} contains a NUL byte: {value:?}")]
    NulByte { what: &'static str, value: String },
    #[error("environment entry {0:?} is not KEY=VALUE")]
    InvalidEnv(String),
    #[error("workingDirectory {0:?} must be an absolute path without '..'")]
    RelativeCwd(String),
    #[error("workingDirectory {0:?} points into /proc/self/fd, which would leak a host file descriptor (CVE-2024-21626)")]
    UnsafeCwd(String),
    #[error("user {0:?} is not in the image's /etc/passwd: use a numeric uid or add the user to the image")]
    UnknownUser(String),
    #[error("group {0:?} is not in the image's /etc/group: use a numeric gid or add the group to the image")]
    UnknownGroup(String),
    #[error("cannot read {path} in the image: {source}")]
    ReadImageFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unknown ulimit {0:?}: expected one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack")]
    UnknownUlimit(String),
    #[error("ulimit {name}: soft limit {soft} is above hard limit {hard}")]
    UlimitSoftAboveHard { name: String, soft: u64, hard: u64 },
    #[error("mount destination {0:?} must be an absolute path without '..'")]
    BadMountDestination(String),
    #[error("mount source {0:?} must be an absolute host path")]
    BadMountSource(PathBuf),
    #[error("cpu shares {0} out of range: use 2..=262144")]
    CpuShares(u64),
    #[error("{what} of {value} bytes is below the 6 MiB minimum")]
    MemoryTooSmall { what: &'static str, value: i64 },
    #[error("memoryReservation {reservation} is above the memory limit {limit}")]
    ReservationAboveLimit { reservation: i64, limit: i64 },
    #[error("pids limit {0} must be positive")]
    PidsLimit(i64),
    #[error("unknown capability {0:?}: use a Linux capability name such as NET_ADMIN (with or without CAP_), or ALL")]
    UnknownCapability(String),
    #[error("cgroups path {0:?} must be absolute, without '..'")]
    CgroupsPath(String),
    #[error(
        "user namespace range {0:?} must start above 0, hold at least one id and end below 2^32"
    )]
    UserNamespaceRange(IdRange),
    #[error("building the OCI spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

/// Builds the runtime spec for one container: Docker's defaults plus `cfg`.
pub fn build_spec(cfg: &ContainerConfig) -> Result<Spec, SpecError> {
    let args = validate_args(&cfg.args)?;
    let env = validate_env(&cfg.env)?;
    let cwd = validate_cwd(&cfg.cwd)?;
    if !is_clean_absolute(&cfg.cgroups_path) {
        return Err(SpecError::CgroupsPath(cfg.cgroups_path.clone()));
    }
    let user = resolve_user(&cfg.rootfs, cfg.user.as_deref())?;

    let caps = capabilities::resolve(cfg.privileged, &cfg.cap_add, &cfg.cap_drop)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(env)
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids)
                .build()?,
        )
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps.clone())
                .inheritable(HashSet::new())
                .ambient(HashSet::new())
                .build()?,
        )
        .rlimits(rlimits(&cfg.ulimits)?)
        .no_new_privileges(true)
        .build()?;

    let (masked, readonly): (Vec<String>, Vec<String>) = if cfg.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            MASKED_PATHS.map(String::from).to_vec(),
            READONLY_PATHS.map(String::from).to_vec(),
        )
    };
    let mut namespaces = namespaces(&cfg.network)?;
    if cfg.user_namespace.is_some() {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()?,
        );
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .resources(resources(cfg)?)
        .cgroups_path(PathBuf::from(&cfg.cgroups_path))
        .build()?;
    if !cfg.privileged {
        linux.set_seccomp(Some(seccomp::profile(&caps)?));
    }
    if let Some(range) = &cfg.user_namespace {
        let map = vec![range.mapping()?];
        linux.set_uid_mappings(Some(map.clone()));
        linux.set_gid_mappings(Some(map));
    }

    let bind_sys = cfg.user_namespace.is_some() && cfg.network != NetworkMode::New;
    let mut mounts = defaults::standard_mounts(cfg.privileged, bind_sys)?;
    mounts.extend(bind_mounts(&cfg.mounts)?);

    let mut builder = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(
            RootBuilder::default()
                .path(&cfg.rootfs)
                .readonly(cfg.readonly_rootfs)
                .build()?,
        )
        .process(process)
        .mounts(mounts)
        .linux(linux);
    if let Some(h) = &cfg.hostname {
        builder = builder.hostname(h.clone());
    }
    Ok(builder.build()?)
}

fn no_nul(what: &'static str, s: &str) -> Result<(), SpecError> {
    if s.contains('\0') {
        return Err(SpecError::NulByte {
            what,
            value: s.to_string(),
        });
    }
    Ok(())
}

fn validate_args(args: &[String]) -> Result<Vec<String>, SpecError> {
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(SpecError::EmptyArgs);
    }
    for a in args {
        no_nul("command argument", a)?;
    }
    Ok(args.to_vec())
}

fn validate_env(env: &[String]) -> Result<Vec<String>, SpecError> {
    for e in env {
        no_nul("environment entry", e)?;
        match e.split_once('=') {
            Some((k, _)) if !k.is_empty() => {}
            _ => return Err(SpecError::InvalidEnv(e.clone())),
        }
    }
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    Ok(env)
}

fn is_clean_absolute(p: &str) -> bool {
    let path = Path::new(p);
    path.is_absolute() && !path.components().any(|c| c == Component::ParentDir)
}

fn validate_cwd(cwd: &str) -> Result<PathBuf, SpecError> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    no_nul("workingDirectory", cwd)?;
    if !is_clean_absolute(cwd) {
        return Err(SpecError::RelativeCwd(cwd.to_string()));
    }
    // `components()` folds "//" and "/./", so "//proc/./self/fd/7" is caught too.
    let normal: PathBuf = Path::new(cwd).components().collect();
    if normal.starts_with("/proc/self/fd") || normal.starts_with("/proc/thread-self/fd") {
        return Err(SpecError::UnsafeCwd(cwd.to_string()));
    }
    Ok(normal)
}

fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    Some(match name {
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        _ => return None,
    })
}

fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<PosixRlimit>, SpecError> {
    ulimits
        .iter()
        .map(|u| {
            let typ =
                rlimit_type(&u.name).ok_or_else(|| SpecError::UnknownUlimit(u.name.clone()))?;
            if u.soft > u.hard {
                return Err(SpecError::UlimitSoftAboveHard {
                    name: u.name.clone(),
                    soft: u.soft,
                    hard: u.hard,
                });
            }
            Ok(PosixRlimitBuilder::default()
                .typ(typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()?)
        })
        .collect()
}

fn namespaces(network: &NetworkMode) -> Result<Vec<LinuxNamespace>, SpecError> {
    let ns = |typ| LinuxNamespaceBuilder::default().typ(typ).build();
    let mut list = vec![
        ns(LinuxNamespaceType::Mount)?,
        ns(LinuxNamespaceType::Pid)?,
        ns(LinuxNamespaceType::Ipc)?,
        ns(LinuxNamespaceType::Uts)?,
    ];
    match network {
        NetworkMode::Host => {}
        NetworkMode::New => list.push(ns(LinuxNamespaceType::Network)?),
        NetworkMode::Path(p) => list.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(p.clone())
                .build()?,
        ),
    }
    Ok(list)
}

fn resources(cfg: &ContainerConfig) -> Result<oci_spec::runtime::LinuxResources, SpecError> {
    // Deny every device node; libcgroups then allows the standard ones (null, zero, tty...).
    // Privileged: every device (the nodes themselves are not created in /dev).
    let devices = LinuxDeviceCgroupBuilder::default()
        .allow(cfg.privileged)
        .access("rwm")
        .build()?;
    let mut res = LinuxResourcesBuilder::default().devices(vec![devices]);

    if let Some(shares) = cfg.cpu_shares {
        if !(2..=MAX_CPU_SHARES).contains(&shares) {
            return Err(SpecError::CpuShares(shares));
        }
        res = res.cpu(LinuxCpuBuilder::default().shares(shares).build()?);
    }
    for (what, v) in [
        ("memory limit", cfg.memory_limit),
        ("memoryReservation", cfg.memory_reservation),
    ] {
        if let Some(v) = v.filter(|v| *v < MIN_MEMORY_BYTES) {
            return Err(SpecError::MemoryTooSmall { what, value: v });
        }
    }
    if let (Some(limit), Some(reservation)) = (cfg.memory_limit, cfg.memory_reservation) {
        if reservation > limit {
            return Err(SpecError::ReservationAboveLimit { reservation, limit });
        }
    }
    if cfg.memory_limit.is_some() || cfg.memory_reservation.is_some() {
        let mut mem = LinuxMemoryBuilder::default();
        if let Some(l) = cfg.memory_limit {
            mem = mem.limit(l);
        }
        if let Some(r) = cfg.memory_reservation {
            mem = mem.reservation(r);
        }
        res = res.memory(mem.build()?);
    }
    if let Some(p) = cfg.pids_limit {
        if p <= 0 {
            return Err(SpecError::PidsLimit(p));
        }
        res = res.pids(LinuxPidsBuilder::default().limit(p).build()?);
    }
    Ok(res.build()?)
}

fn bind_mounts(mounts: &[BindMount]) -> Result<Vec<Mount>, SpecError> {
    mounts
        .iter()
        .map(|m| {
            if !is_clean_absolute(&m.destination) {
                return Err(SpecError::BadMountDestination(m.destination.clone()));
            }
            if !m.source.is_absolute() {
                return Err(SpecError::BadMountSource(m.source.clone()));
            }
            let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
            if m.readonly {
                options.push("ro".to_string());
            }
            Ok(MountBuilder::default()
                .destination(&m.destination)
                .typ("bind")
                .source(&m.source)
                .options(options)
                .build()?)
        })
        .collect()
}

#[cfg(test)]
mod tests;
