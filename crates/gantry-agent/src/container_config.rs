//! Merges what the image says (Entrypoint, Cmd, Env, WorkingDir, User) with the container
//! definition and the RunTask overrides, the way Docker and the ECS agent merge them.

use std::path::PathBuf;

use gantry_api::model::{ContainerDefinition, ContainerOverride, KeyValuePair, Volume};
use gantry_image::ImageConfig;
use gantry_runtime::plan::{Condition, Dependency};
use gantry_runtime::spec::{BindMount, ContainerConfig, NetworkMode, Ulimit};
use gantry_runtime::TaskDir;

/// Errors in a container definition that only show once the image is known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("container {container}: no command to run: the image has no Entrypoint or Cmd and the container definition sets neither entryPoint nor command")]
    NoCommand { container: String },
    #[error("container {container}: mountPoints names the volume {volume:?}, which the task definition does not declare")]
    UnknownVolume { container: String, volume: String },
    #[error("container {container}: ulimit {name:?} is not a limit Linux knows (use e.g. nofile, nproc, core, stack, memlock)")]
    BadUlimit { container: String, name: String },
    #[error("container {container}: dependsOn {dependency:?} has condition {condition:?}; use START, COMPLETE, SUCCESS or HEALTHY")]
    BadDependency {
        container: String,
        dependency: String,
        condition: String,
    },
    #[error("container {container} asks for privileged mode, which this agent does not allow (started with --disable-privileged); remove `privileged` or run it on another instance")]
    PrivilegedDisabled { container: String },
}

/// The definition's `dependsOn`, for the task plan (which checks the names and cycles).
pub fn depends_on(def: &ContainerDefinition) -> Result<Vec<Dependency>, ConfigError> {
    let deps = def.depends_on.as_deref().unwrap_or_default();
    deps.iter()
        .map(|d| {
            let container = d.container_name.clone().unwrap_or_default();
            let condition = d.condition.clone().unwrap_or_default();
            match Condition::parse(&condition) {
                Some(condition) => Ok(Dependency {
                    container,
                    condition,
                }),
                None => Err(ConfigError::BadDependency {
                    container: def.name.clone().unwrap_or_default(),
                    dependency: container,
                    condition,
                }),
            }
        })
        .collect()
}

/// What the merge needs besides the definition.
pub struct MergeInput<'a> {
    pub task_id: &'a str,
    pub task_dir: &'a TaskDir,
    pub def: &'a ContainerDefinition,
    pub over: Option<&'a ContainerOverride>,
    pub volumes: &'a [Volume],
    pub image: &'a ImageConfig,
    pub rootfs: PathBuf,
    pub network: NetworkMode,
    pub pids_limit: i64,
    /// The cgroup every task's cgroup is created under, e.g. `/gantry`.
    pub cgroup_parent: &'a str,
    /// Whether `privileged: true` may be honoured (like `ECS_DISABLE_PRIVILEGED=false`).
    pub allow_privileged: bool,
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds the runtime's container config.
pub fn merge(m: &MergeInput<'_>) -> Result<ContainerConfig, ConfigError> {
    let name = m.def.name.clone().unwrap_or_default();
    let (entrypoint, cmd) = match &m.def.entry_point {
        // Like Docker: overriding the entrypoint drops the image's Cmd.
        Some(ep) => (ep.clone(), Vec::new()),
        None => (m.image.entrypoint.clone(), m.image.cmd.clone()),
    };
    let cmd = m
        .over
        .and_then(|o| o.command.clone())
        .or_else(|| m.def.command.clone())
        .unwrap_or(cmd);
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(ConfigError::NoCommand { container: name });
    }

    let mut env: Vec<String> = m.image.env.clone();
    let mut set = |kv: &KeyValuePair| {
        if let Some(k) = &kv.name {
            let v = kv.value.clone().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(k.as_str()));
            env.push(format!("{k}={v}"));
        }
    };
    m.def.environment.iter().flatten().for_each(&mut set);
    m.over
        .and_then(|o| o.environment.as_ref())
        .into_iter()
        .flatten()
        .for_each(&mut set);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    let hostname = m
        .def
        .hostname
        .clone()
        .unwrap_or_else(|| m.task_id.chars().take(12).collect());
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }

    let mut mounts = Vec::new();
    for mp in m.def.mount_points.iter().flatten() {
        let (Some(vol), Some(dest)) = (&mp.source_volume, &mp.container_path) else {
            continue;
        };
        let Some(v) = m.volumes.iter().find(|v| v.name.as_ref() == Some(vol)) else {
            return Err(ConfigError::UnknownVolume {
                container: name,
                volume: vol.clone(),
            });
        };
        let source = match v.host.as_ref().and_then(|h| h.source_path.clone()) {
            Some(p) => PathBuf::from(p),
            // A volume without a host path is scratch space that lives with the task.
            None => m.task_dir.volume(vol),
        };
        mounts.push(BindMount {
            source,
            destination: dest.clone(),
            readonly: mp.read_only.unwrap_or(false),
        });
    }

    let mut ulimits = Vec::new();
    for u in m.def.ulimits.iter().flatten() {
        let n = u.name.clone().unwrap_or_default();
        if !known_ulimit(&n) {
            return Err(ConfigError::BadUlimit {
                container: name,
                name: n,
            });
        }
        ulimits.push(Ulimit {
            name: n,
            soft: u64::try_from(u.soft_limit.unwrap_or(0)).unwrap_or(0),
            hard: u64::try_from(u.hard_limit.unwrap_or(0)).unwrap_or(0),
        });
    }

    let privileged = m.def.privileged.unwrap_or(false);
    if privileged && !m.allow_privileged {
        return Err(ConfigError::PrivilegedDisabled { container: name });
    }
    let caps = m
        .def
        .linux_parameters
        .as_ref()
        .and_then(|l| l.capabilities.as_ref());
    let cap_add = caps.and_then(|c| c.add.clone()).unwrap_or_default();
    let cap_drop = caps.and_then(|c| c.drop.clone()).unwrap_or_default();

    let cpu = m.over.and_then(|o| o.cpu).or(m.def.cpu).unwrap_or(0);
    let memory = m.over.and_then(|o| o.memory).or(m.def.memory);
    let reservation = m
        .over
        .and_then(|o| o.memory_reservation)
        .or(m.def.memory_reservation);
    const MIB: i64 = 1024 * 1024;
    Ok(ContainerConfig {
        rootfs: m.rootfs.clone(),
        args,
        env,
        cwd: m
            .def
            .working_directory
            .clone()
            .or_else(|| m.image.working_dir.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        user: m
            .def
            .user
            .clone()
            .or_else(|| m.image.user.clone())
            .filter(|u| !u.is_empty()),
        hostname: Some(hostname),
        readonly_rootfs: m.def.readonly_root_filesystem.unwrap_or(false),
        ulimits,
        mounts,
        network: m.network.clone(),
        // The kernel's minimum is 2 shares; ECS's agent raises smaller values the same way.
        cpu_shares: Some(u64::try_from(cpu.max(2)).unwrap_or(2)),
        memory_limit: memory.map(|v| i64::from(v) * MIB),
        memory_reservation: reservation.map(|v| i64::from(v) * MIB),
        pids_limit: Some(m.pids_limit),
        cgroups_path: format!("{}/{}/{}", m.cgroup_parent, m.task_id, name),
        cap_add,
        cap_drop,
        privileged,
        user_namespace: None,
    })
}

/// Whether `name` is one of the model's `UlimitName` values (the limits Linux knows).
fn known_ulimit(name: &str) -> bool {
    match gantry_api::ecs::validate::shape("UlimitName").map(|s| &s.kind) {
        Some(gantry_api::ecs::validate::ShapeKind::String { enum_values, .. }) => {
            enum_values.contains(&name)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageConfig {
        ImageConfig {
            env: vec!["PATH=/bin".into(), "A=image".into()],
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            working_dir: Some("/srv".into()),
            user: None,
        }
    }

    static TASK: std::sync::LazyLock<TaskDir> = std::sync::LazyLock::new(|| TaskDir::new("/t"));

    fn input<'a>(def: &'a ContainerDefinition, img: &'a ImageConfig) -> MergeInput<'a> {
        MergeInput {
            task_id: "0123456789abcdef",
            task_dir: &TASK,
            def,
            over: None,
            volumes: &[],
            image: img,
            rootfs: PathBuf::from("/r"),
            network: NetworkMode::Host,
            pids_limit: 100,
            cgroup_parent: "/gantry",
            allow_privileged: false,
        }
    }

    #[test]
    fn definition_overrides_image() {
        let img = image();
        let def = ContainerDefinition {
            name: Some("app".into()),
            command: Some(vec!["echo".into(), "hi".into()]),
            environment: Some(vec![KeyValuePair {
                name: Some("A".into()),
                value: Some("def".into()),
            }]),
            cpu: Some(0),
            memory: Some(64),
            ..Default::default()
        };
        let c = merge(&input(&def, &img)).unwrap();
        assert_eq!(c.args, vec!["echo", "hi"]);
        assert!(c.env.contains(&"A=def".to_string()));
        assert!(!c.env.contains(&"A=image".to_string()));
        assert_eq!(c.cwd, "/srv");
        assert_eq!(c.cpu_shares, Some(2));
        assert_eq!(c.memory_limit, Some(64 << 20));
        assert_eq!(c.cgroups_path, "/gantry/0123456789abcdef/app");
    }

    #[test]
    fn entrypoint_override_drops_image_cmd() {
        let mut img = image();
        img.entrypoint = vec!["/entry".into()];
        let def = ContainerDefinition {
            name: Some("app".into()),
            entry_point: Some(vec!["/bin/true".into()]),
            ..Default::default()
        };
        assert_eq!(merge(&input(&def, &img)).unwrap().args, vec!["/bin/true"]);
    }

    #[test]
    fn override_command_wins() {
        let img = image();
        let def = ContainerDefinition {
            name: Some("app".into()),
            command: Some(vec!["a".into()]),
            ..Default::default()
        };
        let over = ContainerOverride {
            command: Some(vec!["b".into()]),
            ..Default::default()
        };
        let mut m = input(&def, &img);
        m.over = Some(&over);
        assert_eq!(merge(&m).unwrap().args, vec!["b"]);
    }

    #[test]
    fn ulimit_names_come_from_the_model() {
        assert!(known_ulimit("nofile") && known_ulimit("rttime"));
        assert!(!known_ulimit("bogus"));
    }

    #[test]
    fn unknown_volume_is_an_error() {
        let img = image();
        let def = ContainerDefinition {
            name: Some("app".into()),
            mount_points: Some(vec![gantry_api::model::MountPoint {
                source_volume: Some("data".into()),
                container_path: Some("/data".into()),
                read_only: None,
            }]),
            ..Default::default()
        };
        assert!(matches!(
            merge(&input(&def, &img)),
            Err(ConfigError::UnknownVolume { .. })
        ));
    }
}
