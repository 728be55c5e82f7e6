//! The capability set of a container: Docker's defaults, then `capAdd` and `capDrop` with
//! Docker's rules ("ALL" in drop starts from nothing; "ALL" in add gives every one).

use std::collections::HashSet;

use oci_spec::runtime::Capability;

use super::defaults::DEFAULT_CAPABILITIES;
use super::SpecError;

/// Every capability the OCI spec knows, indexed by its kernel number (CAP_CHOWN is 0).
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// "ALL" (and `privileged`) means every capability this process may hand on: those in
/// its bounding set (as Docker does), so a node run without, say, CAP_SYS_RESOURCE can
/// still start privileged containers. Unknown bounding set: all of them.
fn all_available() -> impl Iterator<Item = Capability> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .into_iter()
        .enumerate()
        .filter(move |(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c)
}

enum Named {
    All,
    One(Capability),
}

/// "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" or "ALL".
fn parse(name: &str) -> Result<Named, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(Named::All);
    }
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse()
        .map(Named::One)
        .map_err(|_| SpecError::UnknownCapability(name.to_string()))
}

/// The container's capabilities (bounding = effective = permitted).
pub fn resolve(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<HashSet<Capability>, SpecError> {
    if privileged {
        return Ok(all_available().collect());
    }
    let adds = add
        .iter()
        .map(|n| parse(n))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = drop
        .iter()
        .map(|n| parse(n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut caps: HashSet<Capability> = if drops.iter().any(|d| matches!(d, Named::All)) {
        HashSet::new()
    } else {
        DEFAULT_CAPABILITIES.into_iter().collect()
    };
    for d in &drops {
        if let Named::One(c) = d {
            caps.remove(c);
        }
    }
    // Docker: an explicit add wins over a drop of the same capability.
    for a in adds {
        match a {
            Named::All => caps.extend(all_available()),
            Named::One(c) => {
                caps.insert(c);
            }
        }
    }
    if add.iter().any(|a| a.eq_ignore_ascii_case("ALL")) {
        for d in &drops {
            if let Named::One(c) = d {
                caps.remove(c);
            }
        }
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn table_is_in_kernel_order() {
        assert_eq!(ALL_CAPABILITIES[0], Capability::Chown);
        assert_eq!(ALL_CAPABILITIES[12], Capability::NetAdmin);
        assert_eq!(ALL_CAPABILITIES[21], Capability::SysAdmin);
        assert_eq!(ALL_CAPABILITIES[40], Capability::CheckpointRestore);
        let names: HashSet<_> = ALL_CAPABILITIES.iter().collect();
        assert_eq!(names.len(), 41);
    }

    #[test]
    fn add_drop_and_all() {
        let default = resolve(false, &[], &[]).expect("default");
        assert_eq!(default.len(), 14);
        let c = resolve(
            false,
            &s(&["NET_ADMIN", "cap_sys_time"]),
            &s(&["CAP_CHOWN"]),
        )
        .expect("add/drop");
        assert!(c.contains(&Capability::NetAdmin) && c.contains(&Capability::SysTime));
        assert!(!c.contains(&Capability::Chown));
        assert_eq!(c.len(), 15);
        let only = resolve(false, &s(&["NET_BIND_SERVICE"]), &s(&["ALL"])).expect("drop all");
        assert_eq!(only, HashSet::from([Capability::NetBindService]));
        let available = all_available().count();
        assert!(available > 14);
        let most = resolve(false, &s(&["ALL"]), &s(&["SYS_ADMIN"])).expect("add all");
        assert_eq!(most.len(), available - 1);
        assert!(!most.contains(&Capability::SysAdmin));
        assert_eq!(
            resolve(true, &[], &s(&["ALL"])).expect("privileged").len(),
            available
        );
        assert!(matches!(
            resolve(false, &s(&["NET_WIZARD"]), &[]),
            Err(SpecError::UnknownCapability(n)) if n == "NET_WIZARD"
        ));
    }
}
