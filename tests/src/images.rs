//! The test images (busybox and web), built once per machine by rootfs-tools.

use std::path::PathBuf;
use std::process::Command;

/// The directory holding the `busybox` and `web` OCI layouts. Built on first use; a file lock
/// keeps parallel test processes from building it twice.
pub fn layouts() -> PathBuf {
    let dir = crate::workspace().join("target").join("test-images");
    let done = dir.join(".built");
    if done.exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("create target/test-images");
    let lock = std::fs::File::create(dir.with_extension("lock")).expect("lock file");
    let fl = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("flock");
    if !done.exists() {
        let script = crate::workspace()
            .join("rootfs-tools")
            .join("build-images.sh");
        let st = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("run rootfs-tools/build-images.sh");
        assert!(st.success(), "rootfs-tools/build-images.sh failed");
        std::fs::write(&done, b"").expect("mark built");
    }
    drop(fl);
    dir
}
