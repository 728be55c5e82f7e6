//! One container through libcontainer: create + start, and delete at the end.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::output::ContainerEnds;
use crate::plan::ContainerPlan;
use crate::seccomp_bpf::{self, Program, SeccompBpfError};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot open log file {path} or make the output pipes: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open /dev/null for stdin: {0}")]
    DevNull(std::io::Error),
    #[error("libcontainer: {0}")]
    Libcontainer(#[from] LibcontainerError),
    #[error("container started but libcontainer recorded no pid")]
    NoPid,
    #[error("reading the container's config.json: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("the container's seccomp program: {0}")]
    Seccomp(#[from] SeccompBpfError),
}

/// The default executor, after restoring the signal state the supervisor changed, with
/// the container's precompiled seccomp program (`crate::seccomp_bpf`), if its bundle has one,
/// and its secret variables ([`crate::secret_env`]), which reach the workload's environment
/// from memory: the bundle's `config.json` never holds them.
#[derive(Clone)]
struct ContainerExecutor {
    seccomp: Option<Program>,
    secrets: Arc<Vec<(String, String)>>,
}

impl ContainerExecutor {
    /// The executor for the container whose bundle is `bundle`: reads its seccomp program
    /// before anything is cloned (the container's init cannot reach the bundle any more).
    fn for_bundle(bundle: &Path, secrets: &[(String, String)]) -> Result<Self, LaunchError> {
        let spec = Spec::load(bundle.join("config.json"))?;
        let seccomp = seccomp_bpf::read_for_bundle(bundle, &spec)?;
        Ok(Self {
            seccomp,
            secrets: Arc::new(secrets.to_vec()),
        })
    }
}

impl Executor for ContainerExecutor {
    /// In the container's init, before the workload is exec'd: the spec's environment,
    /// then the secrets over it (a secret wins over a plain variable of the same name).
    fn setup_envs(&self, mut envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        for (k, v) in self.secrets.iter() {
            envs.insert(k.clone(), v.clone());
        }
        DefaultExecutor {}.setup_envs(envs)
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        super::signals::reset_for_exec();
        DefaultExecutor {}.exec(spec)
    }

    /// libcontainer calls this in the container's init where it would load a seccomp
    /// profile of its own (capabilities dropped, no_new_privs set, just before it reports
    /// the container ready), and fails the create when it errs: a container whose bundle
    /// asks for a program never starts without it.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)?;
        match &self.seccomp {
            Some(program) => seccomp_bpf::load(program)
                .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string())),
            None if seccomp_bpf::wants_program(spec) => {
                Err(ExecutorValidationError::ArgValidationError(
                    "the container's seccomp program was not loaded".into(),
                ))
            }
            None => Ok(()),
        }
    }
}

/// Creates and starts the container with `ends` as its stdout and stderr; its init is
/// reparented to us (we are a subreaper) once libcontainer's intermediate process exits.
/// Returns the init's host pid. `secrets` join the environment of the bundle's spec.
pub fn start(
    plan: &ContainerPlan,
    state_root: &Path,
    ends: ContainerEnds,
    secrets: &[(String, String)],
) -> Result<Pid, LaunchError> {
    let stdin = File::open("/dev/null").map_err(LaunchError::DevNull)?;
    let executor = ContainerExecutor::for_bundle(&plan.bundle, secrets)?;

    let mut container = ContainerBuilder::new(plan.container_id.clone(), SyscallType::default())
        .validate_id()?
        .with_root_path(state_root)?
        .with_executor(executor)
        .with_stdin(stdin)
        .with_stdout(ends.stdout)
        .with_stderr(ends.stderr)
        .as_init(&plan.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()?;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(e.into());
    }
    container.pid().ok_or(LaunchError::NoPid)
}

/// Force-deletes the container: kills what is left in its cgroup, removes the cgroup and
/// libcontainer's state. A container whose state is already gone is fine.
pub fn delete(container_id: &str, state_root: &Path) -> Result<(), LibcontainerError> {
    let dir = state_root.join(container_id);
    if !dir.exists() {
        return Ok(());
    }
    Container::load(dir)?.delete(true)
}

/// The cgroup path recorded in the bundle's spec (for OOM accounting).
pub fn cgroups_path(bundle: &Path) -> Option<String> {
    let spec = Spec::load(bundle.join("config.json")).ok()?;
    let p = spec.linux().as_ref()?.cgroups_path().clone()?;
    Some(p.to_string_lossy().into_owned())
}

/// Runs `argv` inside the running container `container_id` (libcontainer's tenant exec:
/// its namespaces, cgroup, capabilities, environment and user, cwd "/"), stdio on
/// /dev/null. Returns once the process has exec'd; its host pid is reparented to us (we
/// are a subreaper) and reaped with the rest of our children. `secrets` are the container's
/// secret variables: a health check sees the environment the container has.
pub fn exec_in(
    container_id: &str,
    bundle: &Path,
    state_root: &Path,
    argv: Vec<String>,
    secrets: &[(String, String)],
) -> Result<Pid, LaunchError> {
    let null = || File::open("/dev/null").map_err(LaunchError::DevNull);
    let null_w = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(LaunchError::DevNull)
    };
    // The tenant builder runs as root unless told otherwise; use the container's user.
    let user = Spec::load(bundle.join("config.json"))
        .ok()
        .and_then(|s| s.process().as_ref().map(|p| p.user().clone()));
    let executor = ContainerExecutor::for_bundle(bundle, secrets)?;
    let mut builder = ContainerBuilder::new(container_id.to_string(), SyscallType::default())
        .with_root_path(state_root)?
        .with_executor(executor)
        .with_stdin(null()?)
        .with_stdout(null_w()?)
        .with_stderr(null_w()?)
        .as_tenant()
        .with_container_args(argv)
        .with_detach(true);
    if let Some(user) = user {
        builder = builder
            .with_user(Some(user.uid()))
            .with_group(Some(user.gid()))
            .with_additional_gids(user.additional_gids().clone().unwrap_or_default());
    }
    Ok(builder.build()?)
}
