//! Building one task's network: reserve and record, then make the kernel objects; on any
//! failure, tear down whatever was made so nothing outlives the error.

use std::fs;

use crate::alloc::TaskRecord;
use crate::kernel::{nl_err, KernelNetwork};
use crate::netlink::{mac_for, Netlink};
use crate::reserve::{reserve, Probes};
use crate::{host, netns, nft, Mode, NetError, TaskNetSpec, TaskNetwork};

pub(crate) fn setup(k: &KernelNetwork, spec: &TaskNetSpec) -> Result<TaskNetwork, NetError> {
    spec.validate()?;
    if k.allocs().get(&spec.task_id).is_some() {
        crate::teardown::teardown(k, &spec.task_id)?;
    }
    let wired = matches!(spec.mode, Mode::Bridge | Mode::Awsvpc);
    if wired {
        k.prepare_host()?;
    }
    let rec = {
        let nl = std::cell::RefCell::new(if wired {
            Some(Netlink::open().map_err(nl_err("open a netlink socket"))?)
        } else {
            None
        });
        // A name the kernel cannot vouch for counts as taken.
        let link_exists = |name: &str| {
            nl.borrow_mut()
                .as_mut()
                .is_some_and(|nl| !matches!(nl.link_index(name), Ok(None)))
        };
        let probes = Probes {
            port_free: &host::port_free,
            link_exists: &link_exists,
        };
        let mut allocs = k.allocs();
        let rec = reserve(&mut allocs, &k.cfg, spec, &probes)?;
        // Recorded before the kernel is touched: whatever gets made has an owner on disk.
        allocs.insert(&spec.task_id, rec.clone())?;
        rec
    };
    match build(k, &spec.task_id, &rec) {
        Ok(()) => Ok(task_network(&rec)),
        Err(e) => {
            if let Err(t) = crate::teardown::teardown(k, &spec.task_id) {
                tracing::warn!(task = %spec.task_id, error = %t, "cleanup after a failed network setup failed; reconcile will retry");
            }
            Err(e)
        }
    }
}

fn build(k: &KernelNetwork, task_id: &str, rec: &TaskRecord) -> Result<(), NetError> {
    let Some(ns_path) = &rec.netns else {
        return Ok(()); // host
    };
    netns::create_pinned(ns_path, task_id)?;
    let (Some(veth), Some(ip), Some(subnet), Some(bridge)) =
        (&rec.veth, rec.ipv4, rec.subnet, &rec.bridge)
    else {
        return Ok(()); // none
    };
    let gw = subnet
        .gateway()
        .ok_or_else(|| NetError::Config(format!("{subnet} has no room for a gateway")))?;
    let ns_file = fs::File::open(ns_path).map_err(|source| NetError::EnterNamespace {
        path: ns_path.clone(),
        source,
    })?;

    let mut nl = Netlink::open().map_err(nl_err("open a netlink socket"))?;
    nl.add_veth_into(veth, "eth0", mac_for(ip), &ns_file)
        .map_err(nl_err(format!("create the veth {veth}")))?;
    let index = |nl: &mut Netlink, name: &str| {
        nl.link_index(name)
            .map_err(nl_err(format!("find {name}")))?
            .ok_or_else(|| NetError::Netlink {
                op: format!("find {name}"),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
            })
    };
    let br = index(&mut nl, bridge)?;
    let v = index(&mut nl, veth)?;
    nl.set_up(v, Some(br))
        .map_err(nl_err(format!("attach {veth} to {bridge}")))?;
    nl.set_hairpin(v)
        .map_err(nl_err(format!("set hairpin mode on {veth}")))?;

    let mut inside = Netlink::open_in(ns_path).map_err(|source| NetError::EnterNamespace {
        path: ns_path.clone(),
        source,
    })?;
    let eth0 = index(&mut inside, "eth0")?;
    inside
        .add_address(eth0, ip, subnet)
        .map_err(nl_err(format!("address eth0 of task {task_id}")))?;
    inside
        .set_up(eth0, None)
        .map_err(nl_err(format!("bring up eth0 of task {task_id}")))?;
    inside
        .replace_route(None, gw)
        .map_err(nl_err(format!("route task {task_id} via {gw}")))?;

    if rec.mode == Mode::Bridge && !rec.ports.is_empty() {
        let elems: Vec<nft::Element> = rec
            .ports
            .iter()
            .map(|p| nft::Element {
                protocol: p.protocol,
                host_port: p.host_port,
                task_ip: ip,
                container_port: p.container_port,
                task: None,
            })
            .collect();
        nft::apply(
            "add the port mappings",
            &nft::add_elements_script(&k.cfg.nft_table, task_id, &elems),
        )?;
    }
    Ok(())
}

pub(crate) fn task_network(rec: &TaskRecord) -> TaskNetwork {
    TaskNetwork {
        mode: rec.mode,
        netns: rec.netns.clone(),
        ipv4: rec.ipv4,
        mac: rec.mac.clone(),
        subnet: rec.subnet.map(|s| s.to_string()),
        gateway: rec.subnet.and_then(|s| s.gateway()),
        bindings: rec.bindings.clone(),
    }
}
