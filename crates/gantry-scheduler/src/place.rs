//! `place`: one request at a time, on a copy of the snapshot that each placement updates, so
//! a plan never over-commits an instance.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::cluster::{Cluster, Excluded};
use crate::constraint::Constraints;
use crate::index::Index;
use crate::keys::{ranking, Ranking};
use crate::linear::Linear;
use crate::random::RandomChooser;
use crate::{Constraint, Failure, InstanceView, Plan, Strategy, TaskRequest};

/// Picks an instance for each request, in order.
pub(crate) trait Chooser {
    /// The best instance that fits `req` (request number `j`) now, if any.
    fn choose(&mut self, cluster: &Cluster<'_>, j: usize, req: &TaskRequest) -> Option<usize>;
    /// Records that request `j` went to instance `i`; must call `cluster.commit`.
    fn commit(&mut self, cluster: &mut Cluster<'_>, i: usize, j: usize, req: &TaskRequest);
}

/// Places `requests` on `instances`, in request order, without constraints: see
/// [`place_with`].
pub fn place(
    instances: &[InstanceView],
    requests: &[TaskRequest],
    strategies: &[Strategy],
    seed: u64,
) -> Plan {
    place_with(instances, requests, strategies, &[], seed)
}

/// Places `requests` on `instances`, in request order.
///
/// An instance fits a request when it is schedulable, satisfies every constraint (each
/// `memberOf` expression selects it; with `distinctInstance`, it runs no task of the request's
/// group, counting the tasks this plan placed), has every attribute the request requires
/// (such as [`crate::TASK_ENI`] for `awsvpc`), has at least the request's cpu and memory
/// left, and none of the request's ports is in use. Among the instances that fit, the
/// strategies pick, in order, as lexicographic keys: `binpack(cpu|memory)` prefers the least
/// remaining resource, `spread(instanceId|host)` the instance with the fewest tasks,
/// `spread(attribute:<name>)` an instance in the value group with the fewest tasks (instances
/// without the attribute form one group; tasks are counted in the requests' group when they
/// share one, see [`TaskRequest::group`]), `random` a uniformly random instance. Remaining ties
/// go by a shuffle of the instances seeded with `seed`; an empty list means `random`. See
/// [`crate::keys`] for how odd strategy lists are read.
///
/// A request that fits nowhere gets a [`Failure`]: `MISSING` when no instance is
/// schedulable, otherwise `MemberOf placement constraint unsatisfied.`, `DistinctInstance
/// placement constraint unsatisfied.`, `ATTRIBUTE`, `RESOURCE:CPU`, `RESOURCE:MEMORY` or
/// `RESOURCE:PORTS`,
/// whichever check excluded the most instances, with a detail that counts them all (see
/// `Cluster::failure_reason`).
///
/// Pure: the same arguments give the same plan.
pub fn place_with(
    instances: &[InstanceView],
    requests: &[TaskRequest],
    strategies: &[Strategy],
    constraints: &[Constraint],
    seed: u64,
) -> Plan {
    let constraints = || Constraints::new(instances, requests, constraints);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<u32> = (0..u32::try_from(instances.len()).unwrap_or(u32::MAX)).collect();
    order.shuffle(&mut rng);
    let mut rank = vec![0u32; order.len()];
    for (position, &i) in (0u32..).zip(&order) {
        rank[i as usize] = position;
    }
    match ranking(strategies) {
        Ranking::Random => {
            let mut cluster = Cluster::new(instances, rank, &[], requests, constraints());
            let chooser = RandomChooser::new(&cluster, requests, rng);
            drive(&mut cluster, requests, chooser)
        }
        Ranking::Keys { keys, attributes } => {
            let mut cluster = Cluster::new(instances, rank, &attributes, requests, constraints());
            if attributes.len() <= 1 {
                let chooser = Index::new(&cluster, keys, requests);
                drive(&mut cluster, requests, chooser)
            } else {
                drive(&mut cluster, requests, Linear::new(keys))
            }
        }
    }
}

/// The same plan as [`place`] for key strategies, by scanning every instance for every
/// request. The reference the fast index is tested against.
#[cfg(test)]
pub(crate) fn place_linear(
    instances: &[InstanceView],
    requests: &[TaskRequest],
    strategies: &[Strategy],
    constraints: &[Constraint],
    seed: u64,
) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<u32> = (0..u32::try_from(instances.len()).unwrap_or(u32::MAX)).collect();
    order.shuffle(&mut rng);
    let mut rank = vec![0u32; order.len()];
    for (position, &i) in (0u32..).zip(&order) {
        rank[i as usize] = position;
    }
    match ranking(strategies) {
        Ranking::Random => place_with(instances, requests, strategies, constraints, seed),
        Ranking::Keys { keys, attributes } => {
            let constraints = Constraints::new(instances, requests, constraints);
            let mut cluster = Cluster::new(instances, rank, &attributes, requests, constraints);
            drive(&mut cluster, requests, Linear::new(keys))
        }
    }
}

fn drive(cluster: &mut Cluster<'_>, requests: &[TaskRequest], mut chooser: impl Chooser) -> Plan {
    let mut plan = Plan::default();
    // Requests that failed: an identical request fails the same way without another scan (a
    // full cluster otherwise costs a scan per remaining task). A placement only takes cpu,
    // memory and ports away and only makes `distinctInstance` and static `memberOf`
    // stricter, so a failure stays a failure for the rest of the plan; only a `memberOf` on
    // task groups or counts can start to hold, so with one the list is forgotten at each
    // placement. (A remembered failure keeps the detail it was found with.)
    let monotonic = cluster.constraints.as_ref().is_none_or(|c| !c.is_dynamic());
    let mut failed: Vec<(&TaskRequest, Excluded, String)> = Vec::new();
    for (j, req) in requests.iter().enumerate() {
        if let Some((_, reason, detail)) = failed.iter().find(|(f, _, _)| *f == req) {
            plan.failures.push(Failure {
                request: j,
                reason: reason.reason(),
                detail: detail.clone(),
            });
            continue;
        }
        match chooser.choose(cluster, j, req) {
            Some(i) => {
                chooser.commit(cluster, i, j, req);
                plan.placements.push((j, cluster.instances[i].id.clone()));
                if !monotonic {
                    failed.clear();
                }
            }
            None => {
                let (reason, detail) = cluster.failure_reason(req);
                plan.failures.push(Failure {
                    request: j,
                    reason: reason.reason(),
                    detail: detail.clone(),
                });
                if failed.len() < 32 {
                    failed.push((req, reason, detail));
                }
            }
        }
    }
    plan
}
