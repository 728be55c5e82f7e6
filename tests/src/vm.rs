//! A real Debian 12 virtual machine for the VM suite: qemu with KVM, the image
//! `tests/vm/build-image.sh` builds (cached under the target dir), booted on a throwaway
//! overlay (`-snapshot`: every boot starts from the clean image, the guest's writes live in a
//! temporary file qemu deletes at once), reached over ssh with the key made by that build.
//!
//! Network: qemu user networking with `restrict=on`, so the guest reaches nothing outside.
//! Two explicit holes, both the test's own: the host's 127.0.0.1:<ssh port> is forwarded to
//! the guest's sshd, and the guest's [`HOST_ADDR`]:<port> is forwarded (a `guestfwd`) to the
//! host's 127.0.0.1:<port> for the one port [`Vm::host_port`] the test serves there.
//!
//! Dropping the [`Vm`] kills qemu's whole process group (tunnels and forwarders too) and
//! removes its directory, also when a test fails half way.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// The guest-side address of the host's loopback port [`Vm::host_port`].
pub const HOST_ADDR: &str = "10.0.2.100";

/// How long a boot (or a reboot) may take before the test gives up.
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// The image directory `tests/vm/build-image.sh` made (building it first if the script
/// changed since the last build).
pub fn image() -> PathBuf {
    let script = crate::workspace()
        .join("tests")
        .join("vm")
        .join("build-image.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(cache_dir())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (run tests/install-deps.sh first for qemu and debootstrap)",
        script.display()
    );
    // The image directory is the script's last line of output.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = PathBuf::from(
        stdout
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or(""),
    );
    assert!(
        dir.join(".built").is_file(),
        "{} printed {stdout:?}, not an image directory",
        script.display()
    );
    dir
}

/// Where built images are kept: `$GANTRY_VM_CACHE`, else `<target dir>/vm`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("GANTRY_VM_CACHE") {
        return PathBuf::from(p);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target"))
        .join("vm")
}

/// qemu's accelerator and CPU model: KVM with the host's CPU, unless `$GANTRY_VM_ACCEL` says
/// otherwise (`tcg`: software emulation, several times slower) or the host's /dev/kvm is
/// PVM (a nested, paravirtual KVM that boots only PVM-built guest kernels: Debian's stock
/// kernel hangs in its decompressor there), where only TCG can boot Debian's kernel.
pub fn accel() -> Vec<String> {
    let choice = std::env::var("GANTRY_VM_ACCEL").unwrap_or_else(|_| {
        if Path::new("/sys/module/kvm_pvm").exists() {
            "tcg".to_string()
        } else {
            "kvm".to_string()
        }
    });
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
    match choice.as_str() {
        "tcg" => v(&["-accel", "tcg,thread=multi", "-cpu", "max"]),
        _ => v(&["-accel", "kvm", "-cpu", "host"]),
    }
}

/// Makes the child get SIGKILL when the test process dies, even by SIGKILL (a test runner's
/// timeout), where no Drop runs.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// A booted guest.
pub struct Vm {
    qemu: Child,
    image: PathBuf,
    dir: TempDir,
    ssh_port: u16,
    host_port: u16,
    tunnels: Vec<Child>,
}

impl Vm {
    /// Builds the image if needed and boots it; returns once root can log in over ssh.
    pub fn boot() -> Self {
        let accel = accel();
        assert!(
            Path::new("/dev/kvm").exists() || accel.iter().any(|a| a.starts_with("tcg")),
            "/dev/kvm is missing: the VM suite needs KVM (or GANTRY_VM_ACCEL=tcg)"
        );
        let image = image();
        let dir = TempDir::new("vm");
        let ssh_port = crate::free_port();
        let host_port = crate::free_port();
        let cmdline = std::fs::read_to_string(image.join("cmdline")).unwrap_or_default();
        // restrict=on: the guest may not open connections to the host or beyond; hostfwd and
        // guestfwd are the only ways through. The guestfwd runs one socat per connection the
        // guest opens to HOST_ADDR:host_port.
        let netdev = format!(
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,\
             guestfwd=tcp:{HOST_ADDR}:{host_port}-cmd:socat STDIO TCP:127.0.0.1:{host_port}"
        );
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(&accel)
            .args(["-m", "2G", "-smp", "2"])
            .args(["-display", "none", "-monitor", "none", "-no-user-config"])
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.img"))
            .args(["-append", cmdline.trim()])
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=raw,snapshot=on,cache=unsafe",
                image.join("rootfs.ext4").display()
            ))
            .args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0"])
            .arg("-serial")
            .arg(format!("file:{}", dir.path().join("console.log").display()))
            // The snapshot's temporary file goes here (qemu unlinks it at once).
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.path().join("qemu.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            // Its own process group, so Drop can kill it with everything it spawned.
            .process_group(0);
        die_with_parent(&mut cmd);
        let qemu = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start qemu-system-x86_64: {e}"));
        let mut vm = Self {
            qemu,
            image,
            dir,
            ssh_port,
            host_port,
            tunnels: Vec::new(),
        };
        vm.wait_ssh(None);
        vm
    }

    /// The host loopback port the guest reaches at [`HOST_ADDR`] (serve something on
    /// 127.0.0.1:<this port>).
    pub fn host_port(&self) -> u16 {
        self.host_port
    }

    /// `host:port` the guest dials for the host's [`Vm::host_port`].
    pub fn host_addr(&self) -> String {
        format!("{HOST_ADDR}:{}", self.host_port)
    }

    /// The serial console so far (kernel and systemd messages), for assertion messages.
    pub fn console(&self) -> String {
        let c = std::fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default();
        let q = std::fs::read_to_string(self.dir.path().join("qemu.log")).unwrap_or_default();
        let tail: String = c
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        format!("--- qemu ---\n{q}\n--- console (last 60 lines) ---\n{tail}")
    }

    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-i")
            .arg(self.image.join("id_ed25519"))
            .args(["-p", &self.ssh_port.to_string()])
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "ServerAliveInterval=5",
            ]);
        cmd
    }

    /// Runs `script` with `sh -c` in the guest as root.
    pub fn run(&self, script: &str) -> Output {
        self.ssh()
            .arg("root@127.0.0.1")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run ssh: {e}"))
    }

    /// Runs `script` in the guest; panics with its output unless it exits 0. Returns stdout.
    pub fn run_ok(&self, script: &str) -> String {
        let out = self.run(script);
        assert!(
            out.status.success(),
            "in the guest: `{script}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Copies the host file `src` to the guest path `dst` (mode kept).
    pub fn copy_file(&self, src: &Path, dst: &str) {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(src)
                .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
                .permissions(),
        ) & 0o7777;
        let file = std::fs::File::open(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let st = self
            .ssh()
            .arg("root@127.0.0.1")
            .arg(format!(
                "mkdir -p \"$(dirname '{dst}')\" && cat > '{dst}.part' && chmod {mode:o} '{dst}.part' && mv '{dst}.part' '{dst}'"
            ))
            .stdin(file)
            .status()
            .unwrap_or_else(|e| panic!("run ssh: {e}"));
        assert!(
            st.success(),
            "copy {} to the guest's {dst} failed",
            src.display()
        );
    }

    /// Copies the host path `src` (file or directory) into the guest directory `dst_dir`,
    /// under its own name.
    pub fn copy_in(&self, src: &Path, dst_dir: &str) {
        let parent = src.parent().unwrap_or(Path::new("/"));
        let name = src
            .file_name()
            .unwrap_or_else(|| panic!("{} has no file name", src.display()));
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(parent)
            .arg("-c")
            .arg(name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run tar: {e}"));
        let Some(stdout) = tar.stdout.take() else {
            panic!("tar has no stdout");
        };
        let st = self
            .ssh()
            .arg("root@127.0.0.1")
            .arg(format!("mkdir -p '{dst_dir}' && tar -C '{dst_dir}' -x"))
            .stdin(stdout)
            .status()
            .unwrap_or_else(|e| panic!("run ssh: {e}"));
        let tst = tar.wait().unwrap_or_else(|e| panic!("wait tar: {e}"));
        assert!(
            st.success() && tst.success(),
            "copy {} into the guest's {dst_dir} failed",
            src.display()
        );
    }

    /// The guest's boot id (changes with every boot).
    pub fn boot_id(&self) -> Option<String> {
        let out = self.run("cat /proc/sys/kernel/random/boot_id");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Reboots the guest (`systemctl reboot`) and waits until it is back with a new boot id.
    /// The overlay survives: the guest keeps what it wrote.
    pub fn reboot(&mut self) {
        let before = self.boot_id();
        assert!(
            before.is_some(),
            "the guest does not answer before the reboot"
        );
        // The connection may drop before ssh returns; the new boot id is what counts.
        let _ = self.run("systemctl reboot");
        self.wait_ssh(before.as_deref());
    }

    /// Waits until ssh works and (after a reboot) the boot id is not `old`.
    fn wait_ssh(&mut self, old: Option<&str>) {
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.qemu.try_wait() {
                panic!("qemu exited ({st}) while booting\n{}", self.console());
            }
            if let Some(id) = self.boot_id() {
                if old != Some(id.as_str()) {
                    return;
                }
            }
            assert!(
                start.elapsed() < BOOT_TIMEOUT,
                "the guest did not come up over ssh within {BOOT_TIMEOUT:?}\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Forwards a new host loopback port to the guest's 127.0.0.1:`guest_port` (an ssh
    /// tunnel, stopped with the VM) and returns the host port once it accepts connections.
    pub fn forward(&mut self, guest_port: u16) -> u16 {
        let local = crate::free_port();
        let child = self
            .ssh()
            .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
            .arg(format!("127.0.0.1:{local}:127.0.0.1:{guest_port}"))
            .arg("root@127.0.0.1")
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("run ssh -L: {e}"));
        self.tunnels.push(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", local)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the ssh tunnel to the guest's port {guest_port} did not open"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        local
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        for t in self
            .tunnels
            .iter_mut()
            .chain(std::iter::once(&mut self.qemu))
        {
            if let Ok(pgid) = i32::try_from(t.id()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = t.wait();
        }
    }
}

/// Polls `f` (a guest command, say) until it returns true or `timeout` passes; returns
/// whether it did.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
