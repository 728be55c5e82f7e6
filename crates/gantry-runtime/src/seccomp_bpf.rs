//! A container's seccomp profile, compiled once per profile instead of once per start.
//!
//! libcontainer compiles `linux.seccomp` with libseccomp inside every container's init
//! process, about 10 ms of CPU for the default profile (measured, `docs/benchmarks.md`),
//! on the start path of every container. The compiled program depends only on the profile,
//! so [`write_bundle`] compiles it once per distinct profile per process (the long-lived
//! agent), writes the program beside `config.json` as [`BPF_FILE`], and leaves
//! `linux.seccomp` out of `config.json` with the [`ANNOTATION`] pointing at it. The
//! supervisor reads the program before it starts the container ([`read_for_bundle`]) and
//! the container's init loads it ([`load`]) where libcontainer would have loaded its own:
//! after capabilities are dropped and no_new_privs is set, before the payload runs.
//!
//! The translation is libcontainer 0.7's (`libcontainer::seccomp::initialize_seccomp`) rule
//! for rule, so the program is the one it would have loaded. A profile this cannot
//! precompile (a notify action, which needs libcontainer's listener) stays in `config.json`.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use libseccomp::ScmpSyscall;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, Spec,
};

/// The compiled program's file in a bundle.
pub const BPF_FILE: &str = "seccomp.bpf";
/// Set in `config.json` when the container's seccomp program is [`BPF_FILE`]; a container
/// with it never starts without that program loaded.
pub const ANNOTATION: &str = "org.gantry.seccomp.bpf";

#[derive(Debug, thiserror::Error)]
pub enum SeccompBpfError {
    #[error("compiling the seccomp profile: {0}")]
    Compile(String),
    #[error("the seccomp profile sets flags this runtime does not precompile: {0:?}")]
    Flags(LinuxSeccompFilterFlag),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a seccomp program (its size is not a multiple of 8 bytes)")]
    Malformed(std::path::PathBuf),
    #[error("writing config.json: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("loading the seccomp filter: {0}")]
    Load(std::io::Error),
}

/// A compiled seccomp program, ready to load.
#[derive(Clone, Debug)]
pub struct Program(Arc<[libc::sock_filter]>);

impl Program {
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > usize::from(u16::MAX) {
            return None;
        }
        let insns = bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Self(insns))
    }

    /// Instructions in the program.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The profile as libseccomp's kernel program (bytes, as `seccomp_export_bpf` writes it).
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, SeccompBpfError> {
    let e = |err: libseccomp::error::SeccompError| SeccompBpfError::Compile(err.to_string());
    let default_action = translate_action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(e)?;
    if let Some(flag) = profile.flags().as_ref().and_then(|f| f.first()) {
        // TSYNC, LOG, SPEC_ALLOW change how the program is loaded, not the program;
        // `write_bundle` leaves such a profile to libcontainer.
        return Err(SeccompBpfError::Flags(*flag));
    }
    for &arch in profile.architectures().iter().flatten() {
        ctx.add_arch(translate_arch(arch)).map_err(e)?;
    }
    // As libcontainer: never let libseccomp set no_new_privs itself (the spec does).
    ctx.set_ctl_nnp(false).map_err(e)?;
    for syscall in profile.syscalls().iter().flatten() {
        let action = translate_action(syscall.action(), syscall.errno_ret())?;
        if action == default_action {
            continue; // libcontainer skips redundant rules the same way
        }
        for name in syscall.names() {
            // A name this kernel's libseccomp does not know is skipped, as libcontainer does.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            match syscall.args() {
                Some(args) => {
                    let cmps: Vec<ScmpArgCompare> = args
                        .iter()
                        .map(|a| {
                            ScmpArgCompare::new(
                                a.index() as u32,
                                translate_op(a.op(), a.value_two()),
                                a.value(),
                            )
                        })
                        .collect();
                    let mut seen = HashSet::new();
                    let duplicate = args.iter().any(|a| !seen.insert(a.index()));
                    if duplicate {
                        for c in &cmps {
                            ctx.add_rule_conditional(action, sc, std::slice::from_ref(c))
                                .map_err(e)?;
                        }
                    } else {
                        ctx.add_rule_conditional(action, sc, &cmps).map_err(e)?;
                    }
                }
                None => {
                    ctx.add_rule(action, sc).map_err(e)?;
                }
            }
        }
    }
    let memfd = nix::sys::memfd::memfd_create(
        c"gantry-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|err| SeccompBpfError::Compile(format!("memfd: {err}")))?;
    let mut file = std::fs::File::from(memfd);
    ctx.export_bpf(&file).map_err(e)?;
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|err| SeccompBpfError::Compile(format!("reading the program back: {err}")))?;
    Ok(bytes)
}

/// [`compile`], once per distinct profile in this process.
pub fn compile_cached(profile: &LinuxSeccomp) -> Result<Arc<Vec<u8>>, SeccompBpfError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();
    // The profile's JSON is the key: exact, and a handful of profiles per node.
    let key = serde_json::to_string(profile)
        .map_err(|err| SeccompBpfError::Compile(format!("serializing the profile: {err}")))?;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let program = Arc::new(compile(profile)?);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, Arc::clone(&program));
    }
    Ok(program)
}

/// Writes `spec` as `<bundle>/config.json`, its seccomp profile precompiled into
/// `<bundle>/seccomp.bpf` when it can be (see the module comment).
pub fn write_bundle(bundle: &Path, spec: &Spec) -> Result<(), SeccompBpfError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SeccompBpfError::Io { path, source }
    };
    let config = bundle.join("config.json");
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    // A profile this cannot precompile is left in config.json for libcontainer, as before.
    let precompiled = profile
        .as_ref()
        .filter(|p| !is_notify(p) && p.flags().as_ref().is_none_or(Vec::is_empty))
        .and_then(|p| {
            compile_cached(p)
                .inspect_err(
                    |err| tracing::warn!(error = %err, "seccomp profile left to libcontainer"),
                )
                .ok()
        });
    let Some(program) = precompiled else {
        let json = serde_json::to_vec_pretty(spec).map_err(|err| SeccompBpfError::Io {
            path: config.clone(),
            source: err.into(),
        })?;
        return std::fs::write(&config, json).map_err(io(&config));
    };
    let bpf = bundle.join(BPF_FILE);
    std::fs::write(&bpf, program.as_slice()).map_err(io(&bpf))?;
    let mut spec = spec.clone();
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    let mut annotations = spec.annotations().clone().unwrap_or_default();
    annotations.insert(ANNOTATION.to_string(), BPF_FILE.to_string());
    spec.set_annotations(Some(annotations));
    let json = serde_json::to_vec_pretty(&spec).map_err(|err| SeccompBpfError::Io {
        path: config.clone(),
        source: err.into(),
    })?;
    std::fs::write(&config, json).map_err(io(&config))
}

/// The precompiled program `spec` (the bundle's `config.json`) asks for, if any. An
/// annotated bundle whose program cannot be read is an error, never a start without it.
pub fn read_for_bundle(bundle: &Path, spec: &Spec) -> Result<Option<Program>, SeccompBpfError> {
    let Some(file) = spec.annotations().as_ref().and_then(|a| a.get(ANNOTATION)) else {
        return Ok(None);
    };
    // Only a plain name in the bundle directory.
    let path = bundle.join(Path::new(file).file_name().unwrap_or_default());
    let bytes = std::fs::read(&path).map_err(|source| SeccompBpfError::Io {
        path: path.clone(),
        source,
    })?;
    Program::from_bytes(&bytes)
        .map(Some)
        .ok_or(SeccompBpfError::Malformed(path))
}

/// Whether `spec` asks for a precompiled program (then one must be loaded).
pub fn wants_program(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION))
}

/// Loads `program` into the calling thread's seccomp filters (no flags, as libcontainer
/// loads the default profile). The caller has no_new_privs set.
pub fn load(program: &Program) -> Result<(), SeccompBpfError> {
    let prog = libc::sock_fprog {
        // `from_bytes` keeps the length within u16.
        len: program.0.len() as u16,
        filter: program.0.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `len` instructions that live as long as `program`; the
    // kernel copies the program before the call returns.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            std::ptr::from_ref(&prog),
        )
    };
    if rc != 0 {
        return Err(SeccompBpfError::Load(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn is_notify(profile: &LinuxSeccomp) -> bool {
    profile.default_action() == LinuxSeccompAction::ScmpActNotify
        || profile
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

fn translate_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn translate_action(
    action: LinuxSeccompAction,
    errno: Option<u32>,
) -> Result<ScmpAction, SeccompBpfError> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        // libcontainer refuses an errno that does not fit a u16 the same way.
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.try_into().map_err(|_| {
            SeccompBpfError::Compile(format!("trace errno {errno} does not fit 16 bits"))
        })?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
    })
}

fn translate_op(op: LinuxSeccompOperator, datum_b: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(datum_b.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{build_spec, ContainerConfig, NetworkMode};

    fn spec() -> Spec {
        let rootfs = tmp("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("group");
        let spec = build_spec(&ContainerConfig {
            rootfs: rootfs.clone(),
            args: vec!["true".into()],
            env: vec![],
            cwd: "/".into(),
            user: None,
            hostname: None,
            readonly_rootfs: false,
            ulimits: vec![],
            mounts: vec![],
            network: NetworkMode::New,
            cpu_shares: None,
            memory_limit: None,
            memory_reservation: None,
            pids_limit: None,
            cgroups_path: "/gantry/t/c".into(),
            cap_add: vec![],
            cap_drop: vec![],
            privileged: false,
            user_namespace: None,
        })
        .expect("spec");
        // The spec only names the rootfs; nothing of it is needed once built.
        let _ = std::fs::remove_dir_all(&rootfs);
        spec
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        // Tests run in parallel in one process: a name per caller and thread.
        let d = std::env::temp_dir().join(format!(
            "gantry-seccomp-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmp dir");
        d
    }

    #[test]
    fn the_default_profile_is_compiled_once_into_a_kernel_program() {
        let s = spec();
        let profile = s
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().clone())
            .expect("profile");
        let a = compile_cached(&profile).expect("compile");
        let b = compile_cached(&profile).expect("compile again");
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second compile was not the cached one"
        );
        let program = Program::from_bytes(&a).expect("a whole number of instructions");
        // Hundreds of allowed syscalls on three architectures.
        assert!(program.len() > 100, "{} instructions", program.len());
    }

    #[test]
    fn a_bundle_carries_the_program_and_config_json_points_at_it() {
        let dir = tmp("bundle");
        write_bundle(&dir, &spec()).expect("write");
        let written = Spec::load(dir.join("config.json")).expect("config.json");
        assert!(written.linux().as_ref().expect("linux").seccomp().is_none());
        assert!(wants_program(&written));
        let program = read_for_bundle(&dir, &written)
            .expect("read")
            .expect("a program");
        assert!(!program.is_empty());
        // Without its program the bundle is refused, never run unfiltered.
        std::fs::remove_file(dir.join(BPF_FILE)).expect("rm");
        assert!(read_for_bundle(&dir, &written).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_privileged_bundle_has_no_program() {
        let dir = tmp("privileged");
        let mut s = spec();
        if let Some(l) = s.linux_mut() {
            l.set_seccomp(None);
        }
        write_bundle(&dir, &s).expect("write");
        let written = Spec::load(dir.join("config.json")).expect("config.json");
        assert!(!wants_program(&written));
        assert!(read_for_bundle(&dir, &written).expect("read").is_none());
        assert!(!dir.join(BPF_FILE).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
