//! The open-files limit. The agent holds one or two descriptors per running task (the
//! supervisor's event pipe, its log follower), so 500 tasks pass a 1,024 soft limit: the
//! agent raises its soft limit to the hard one at start. Its supervisors put the original
//! soft limit back before starting containers, so a container inherits what it would have
//! without the agent's raise (its `ulimits` still set their own).

use std::sync::OnceLock;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Set on each supervisor's command: the soft limit the agent itself was started with.
pub const INHERITED_NOFILE_ENV: &str = "GANTRY_INHERITED_NOFILE";

static ORIGINAL_SOFT: OnceLock<u64> = OnceLock::new();

/// Raises this process's soft open-files limit to its hard limit. Returns (before, after).
pub fn raise_nofile() -> nix::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let _ = ORIGINAL_SOFT.set(soft);
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((soft, hard))
}

/// The soft limit from before `raise_nofile`, if it ran.
pub fn original_soft_nofile() -> Option<u64> {
    ORIGINAL_SOFT.get().copied()
}

/// In a supervisor: puts back the soft limit named by [`INHERITED_NOFILE_ENV`], if any.
pub fn restore_inherited_nofile() -> nix::Result<()> {
    match std::env::var(INHERITED_NOFILE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(want) => set_soft_nofile(want),
        None => Ok(()),
    }
}

/// Sets the soft open-files limit to `want`, at most the hard limit.
pub fn set_soft_nofile(want: u64) -> nix::Result<()> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let want = want.min(hard);
    if want != soft {
        setrlimit(Resource::RLIMIT_NOFILE, want, hard)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // nextest runs each test in its own process, so changing its limits is contained.
    #[test]
    fn raises_to_the_hard_limit_and_restores_the_inherited_one() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        let low = hard.min(512);
        set_soft_nofile(low).expect("lower");
        let (before, after) = raise_nofile().expect("raise");
        assert_eq!((before, after), (low, hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).expect("get").0, hard);
        assert_eq!(original_soft_nofile(), Some(low));
        set_soft_nofile(low).expect("restore");
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).expect("get").0, low);
    }
}
