//! Taking task networks apart: one task (`teardown`) or every task not alive
//! (`reconcile`), including kernel objects that lost their record.

use std::collections::HashSet;

use crate::kernel::{nl_err, KernelNetwork};
use crate::netlink::Netlink;
use crate::{host, netns, netns_path, nft, Mode, NetError, ReconcileReport};

/// Removes, in order, the task's port mappings, its veth, its namespace and its conntrack
/// entries, and only then its record: a failure keeps the record, so `reconcile` retries.
pub(crate) fn teardown(k: &KernelNetwork, task_id: &str) -> Result<(), NetError> {
    let rec = k.allocs().get(task_id).cloned();
    let mut first_err: Option<NetError> = None;
    let mut note = |r: Result<(), NetError>| {
        if let Err(e) = r {
            tracing::warn!(task = %task_id, error = %e, "network teardown step failed");
            first_err.get_or_insert(e);
        }
    };
    if let Some(rec) = &rec {
        if rec.mode == Mode::Bridge && !rec.ports.is_empty() {
            note(remove_elements(k, |t| t == Some(task_id)).map(drop));
        }
        if let Some(veth) = &rec.veth {
            note(
                Netlink::open()
                    .and_then(|mut nl| nl.del_link(veth))
                    .map_err(nl_err(format!("delete the veth {veth}"))),
            );
        }
    }
    let path = rec
        .as_ref()
        .and_then(|r| r.netns.clone())
        .unwrap_or_else(|| netns_path(&k.cfg.run_dir, task_id));
    note(netns::remove_pinned(&path));
    if let Some(rec) = &rec {
        if matches!(rec.mode, Mode::Bridge | Mode::Awsvpc) {
            let ports: Vec<_> = rec
                .ports
                .iter()
                .map(|p| (p.protocol, p.host_port))
                .collect();
            host::flush_conntrack(rec.ipv4, &ports);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => k.allocs().remove(task_id).map(drop),
    }
}

/// Deletes the `ports` elements whose task passes `doomed`; returns them.
fn remove_elements(
    k: &KernelNetwork,
    doomed: impl Fn(Option<&str>) -> bool,
) -> Result<Vec<nft::Element>, NetError> {
    let gone: Vec<nft::Element> = nft::elements(&k.cfg.nft_table)?
        .into_iter()
        .filter(|e| doomed(e.task.as_deref()))
        .collect();
    if !gone.is_empty() {
        nft::apply(
            "remove port mappings",
            &nft::delete_elements_script(&k.cfg.nft_table, &gone),
        )?;
    }
    Ok(gone)
}

pub(crate) fn reconcile(k: &KernelNetwork, live: &[String]) -> Result<ReconcileReport, NetError> {
    let live: HashSet<&str> = live.iter().map(String::as_str).collect();
    let mut report = ReconcileReport::default();
    let mut first_err: Option<NetError> = None;

    let dead: Vec<String> = k
        .allocs()
        .tasks()
        .filter(|(id, _)| !live.contains(id.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    for id in dead {
        match teardown(k, &id) {
            Ok(()) => report.released_tasks.push(id),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }

    // Whatever is left in the kernel now belongs to a live task or to nobody.
    let owned: HashSet<String> = k.allocs().tasks().map(|(id, _)| id.clone()).collect();
    let keep = |id: &str| live.contains(id) || owned.contains(id);

    let pinned = netns::pinned(&k.cfg.run_dir).map_err(|source| NetError::Remove {
        path: k.cfg.run_dir.join("netns"),
        source,
    })?;
    for id in pinned.into_iter().filter(|id| !keep(id)) {
        match netns::remove_pinned(&netns_path(&k.cfg.run_dir, &id)) {
            Ok(()) => report.removed_leftovers.push(format!("netns {id}")),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }

    let mut nl = Netlink::open().map_err(nl_err("open a netlink socket"))?;
    let mut bridges = vec![k.cfg.bridge.name.clone()];
    bridges.extend(k.cfg.awsvpc.as_ref().map(|a| a.bridge.clone()));
    let mut bridge_idx = Vec::new();
    for b in &bridges {
        if let Some(i) = nl.link_index(b).map_err(nl_err(format!("find {b}")))? {
            bridge_idx.push(i);
        }
    }
    if bridge_idx.is_empty() {
        // Never prepared: no veth or nftables element can exist.
        return first_err.map_or(Ok(report), Err);
    }
    let veths: HashSet<String> = k
        .allocs()
        .tasks()
        .filter_map(|(_, r)| r.veth.clone())
        .collect();
    let links = nl.links().map_err(nl_err("list links"))?;
    for l in links {
        let ours = l.master.is_some_and(|m| bridge_idx.contains(&m));
        if ours && l.name.starts_with("gt") && !veths.contains(&l.name) {
            match nl.del_link(&l.name) {
                Ok(()) => report.removed_leftovers.push(format!("veth {}", l.name)),
                Err(e) => {
                    first_err.get_or_insert(nl_err(format!("delete {}", l.name))(e));
                }
            }
        }
    }

    match remove_elements(k, |t| !t.is_some_and(keep)) {
        Ok(gone) => report.removed_leftovers.extend(gone.iter().map(|e| {
            format!(
                "port mapping {}/{} of {}",
                e.host_port,
                e.protocol.as_str(),
                e.task.as_deref().unwrap_or("no task")
            )
        })),
        Err(e) => {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(report), Err)
}
