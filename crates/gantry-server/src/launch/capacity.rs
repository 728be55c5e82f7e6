//! Launching by capacity provider strategy (docs/capacity-providers.md): which capacity a
//! RunTask or a service uses (a launch type, the call's strategy, or the cluster's default
//! strategy), how `count` tasks split over a strategy's providers (`base` first, then
//! `weight`), and placing each provider's share on that provider's instances only — those
//! whose attribute `gantry.capacity-provider` names it.

use std::collections::BTreeMap;

use gantry_api::model::CapacityProviderStrategyItem;
use gantry_scheduler::{Constraint, LaunchType};
use gantry_store::Store;

use super::placement::{self, Outcome, Rules};
use super::prepare::check_launch_type;
use crate::ecs::capacity_providers::GROUP_ATTRIBUTE;
use crate::ecs::cluster_update::{check_strategy, filled, FARGATE_PROVIDERS};
use crate::error::{invalid, Result};
use crate::persistence::records::{Allocation, ClusterRecord, TaskRecord};
use crate::state::AppState;

/// ECS's limit on the items of a capacity provider strategy.
pub const MAX_ITEMS: usize = 20;

/// What a launch runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum Capacity {
    LaunchType(LaunchType),
    /// Items with `weight` and `base` filled in, checked against the cluster.
    Strategy(Vec<CapacityProviderStrategyItem>),
}

impl Capacity {
    /// The launch type its tasks get: a strategy's providers are EC2 instances.
    pub fn launch_type(&self) -> LaunchType {
        match self {
            Self::LaunchType(l) => *l,
            Self::Strategy(_) => LaunchType::Ec2,
        }
    }

    /// The strategy, or nothing for a launch type.
    pub fn strategy(&self) -> &[CapacityProviderStrategyItem] {
        match self {
            Self::LaunchType(_) => &[],
            Self::Strategy(s) => s,
        }
    }
}

fn no_weight(default: bool) -> crate::error::Error {
    if default {
        invalid(
            "There are no capacity providers with a weight value greater than zero defined in the default capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy and try again.",
        )
    } else {
        invalid(
            "There are no capacity providers with a weight value greater than zero defined in the capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Specify a valid capacity provider strategy and try again.",
        )
    }
}

/// A strategy a launch uses, checked against `cluster`'s providers; `default` says it is
/// the cluster's default strategy (for ECS's wording).
pub fn check(
    cluster: &ClusterRecord,
    strategy: &[CapacityProviderStrategyItem],
    default: bool,
) -> Result<Vec<CapacityProviderStrategyItem>> {
    if strategy.len() > MAX_ITEMS {
        return Err(invalid(format!(
            "The capacity provider strategy has {} capacity providers; it can contain a maximum of {MAX_ITEMS}.",
            strategy.len()
        )));
    }
    for item in strategy {
        let name = item.capacity_provider.as_deref().unwrap_or("");
        if FARGATE_PROVIDERS.contains(&name) {
            return Err(invalid(format!(
                "The capacity provider {name} is not available: Gantry has no Fargate capacity yet."
            )));
        }
    }
    check_strategy(&cluster.capacity_providers, strategy)?;
    if strategy.len() > 1 && strategy.iter().all(|i| i.weight.unwrap_or(0) == 0) {
        return Err(no_weight(default));
    }
    Ok(filled(strategy))
}

/// The capacity a RunTask or CreateService asks for, as ECS decides it: `launchType` and
/// `capacityProviderStrategy` are exclusive; with neither, the cluster's default strategy
/// if it has one, else the EC2 launch type.
pub fn resolve(
    cluster: &ClusterRecord,
    launch_type: Option<&str>,
    strategy: Option<&[CapacityProviderStrategyItem]>,
) -> Result<Capacity> {
    let strategy = strategy.unwrap_or_default();
    match (launch_type, strategy.is_empty()) {
        (Some(_), false) => Err(invalid(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        )),
        (None, false) => Ok(Capacity::Strategy(check(cluster, strategy, false)?)),
        (None, true) if !cluster.default_capacity_provider_strategy.is_empty() => Ok(
            Capacity::Strategy(check(cluster, &cluster.default_capacity_provider_strategy, true)?),
        ),
        (lt, true) => Ok(Capacity::LaunchType(check_launch_type(lt)?)),
    }
}

/// How `count` new tasks split over `strategy`'s providers, given the tasks each provider
/// already runs for the same launch (`existing`, by provider name): the provider with a
/// `base` gets tasks until it runs `base`; every further task goes to the provider with
/// `weight` > 0 furthest below its share of the tasks beyond the bases (the earlier item
/// on a tie). A strategy of one provider takes every task whatever its weight. Returns
/// `(provider, new tasks)` in strategy order, providers that get none left out.
pub fn split(
    strategy: &[CapacityProviderStrategyItem],
    existing: &BTreeMap<String, usize>,
    count: usize,
) -> Vec<(String, usize)> {
    let names: Vec<String> = strategy
        .iter()
        .map(|i| i.capacity_provider.clone().unwrap_or_default())
        .collect();
    let base: Vec<usize> = strategy
        .iter()
        .map(|i| usize::try_from(i.base.unwrap_or(0)).unwrap_or(0))
        .collect();
    let single = strategy.len() == 1;
    let weight: Vec<usize> = strategy
        .iter()
        .map(|i| {
            let w = usize::try_from(i.weight.unwrap_or(0)).unwrap_or(0);
            if single {
                w.max(1)
            } else {
                w
            }
        })
        .collect();
    let mut have: Vec<usize> = names
        .iter()
        .map(|n| existing.get(n).copied().unwrap_or(0))
        .collect();
    let mut new = vec![0usize; names.len()];
    for _ in 0..count {
        let pick = (0..names.len()).find(|&i| have[i] < base[i]).or_else(|| {
            // Beyond the base: minimise (tasks beyond base + 1) / weight, compared
            // exactly as cross products.
            (0..names.len())
                .filter(|&i| weight[i] > 0)
                .min_by(|&a, &b| {
                    let ea = have[a].saturating_sub(base[a]) + 1;
                    let eb = have[b].saturating_sub(base[b]) + 1;
                    (ea * weight[b]).cmp(&(eb * weight[a])).then(a.cmp(&b))
                })
        });
        let Some(i) = pick else { break };
        have[i] += 1;
        new[i] += 1;
    }
    names.into_iter().zip(new).filter(|(_, n)| *n > 0).collect()
}

/// The placement constraint that keeps a provider's tasks on its own instances.
fn on_provider(name: &str) -> Result<Constraint> {
    Constraint::member_of(&format!("attribute:{GROUP_ATTRIBUTE} == {name}")).map_err(|e| {
        invalid(format!(
            "The capacity provider name {name:?} cannot be matched against instance attributes: {e}."
        ))
    })
}

/// Places `count` tasks made by `make` on `capacity`: by its launch type as RunTask always
/// did, or split over the strategy's providers ([`split`], given what each provider already
/// runs for this launch) with each share placed on its provider's instances and its tasks
/// marked with the provider's name.
#[allow(clippy::too_many_arguments)]
pub async fn place<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    count: usize,
    allocation: &Allocation,
    rules: Rules<'_>,
    capacity: &Capacity,
    existing: &BTreeMap<String, usize>,
    tags: &BTreeMap<String, String>,
    make: impl Fn(&str) -> TaskRecord,
) -> Result<Outcome> {
    let strategy = match capacity {
        Capacity::LaunchType(lt) => {
            let rules = Rules {
                launch_type: *lt,
                ..rules
            };
            return placement::run(st, cluster, count, allocation, rules, tags, make).await;
        }
        Capacity::Strategy(s) => s,
    };
    let mut out = Outcome::default();
    for (provider, n) in split(strategy, existing, count) {
        let mut constraints = rules.constraints.to_vec();
        constraints.push(on_provider(&provider)?);
        let share = Rules {
            constraints: &constraints,
            launch_type: LaunchType::Ec2,
            ..rules
        };
        let mark = |id: &str| {
            let mut t = make(id);
            t.capacity_provider_name = Some(provider.clone());
            t
        };
        let done = placement::run(st, cluster, n, allocation, share, tags, mark).await?;
        out.tasks.extend(done.tasks);
        for mut f in done.failures {
            // Say whose instances could not take the share.
            let why = f
                .detail
                .take()
                .or_else(|| f.reason.clone())
                .unwrap_or_default();
            f.detail = Some(format!("capacity provider {provider}: {why}"));
            if !out.failures.contains(&f) {
                out.failures.push(f);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, weight: i32, base: i32) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: Some(name.into()),
            weight: Some(weight),
            base: Some(base),
        }
    }

    fn split_of(s: &[CapacityProviderStrategyItem], count: usize) -> Vec<(String, usize)> {
        split(s, &BTreeMap::new(), count)
    }

    #[test]
    fn base_first_then_weight() {
        // ECS's example: A base 2 weight 1, B weight 1: 2 on A, then even.
        let s = [item("a", 1, 2), item("b", 1, 0)];
        assert_eq!(split_of(&s, 6), vec![("a".into(), 4), ("b".into(), 2)]);
        assert_eq!(split_of(&s, 2), vec![("a".into(), 2)]);
        assert_eq!(split_of(&s, 3), vec![("a".into(), 3)]);
    }

    #[test]
    fn weights_one_to_four() {
        let s = [item("a", 1, 0), item("b", 4, 0)];
        assert_eq!(split_of(&s, 5), vec![("a".into(), 1), ("b".into(), 4)]);
        assert_eq!(split_of(&s, 10), vec![("a".into(), 2), ("b".into(), 8)]);
    }

    #[test]
    fn weight_zero_takes_only_its_base() {
        let s = [item("a", 0, 3), item("b", 1, 0)];
        assert_eq!(split_of(&s, 7), vec![("a".into(), 3), ("b".into(), 4)]);
        // A single provider takes everything, weight or not.
        assert_eq!(split_of(&[item("a", 0, 0)], 4), vec![("a".into(), 4)]);
    }

    #[test]
    fn existing_tasks_count_toward_base_and_share() {
        let s = [item("a", 1, 2), item("b", 1, 0)];
        let existing = BTreeMap::from([("a".to_string(), 2usize)]);
        assert_eq!(
            split(&s, &existing, 2),
            vec![("a".into(), 1), ("b".into(), 1)]
        );
        let existing = BTreeMap::from([("b".to_string(), 3usize)]);
        assert_eq!(split(&s, &existing, 3), vec![("a".into(), 3)]);
    }

    fn cluster(providers: &[&str], default: Vec<CapacityProviderStrategyItem>) -> ClusterRecord {
        let mut c: ClusterRecord = serde_json::from_value(serde_json::json!({
            "name": "c", "status": "ACTIVE", "created_at": 0.0
        }))
        .unwrap_or_else(|e| panic!("cluster record: {e}"));
        c.capacity_providers = providers.iter().map(ToString::to_string).collect();
        c.default_capacity_provider_strategy = default;
        c
    }

    #[test]
    fn resolve_as_ecs() {
        let c = cluster(&["a", "b"], vec![]);
        let both = resolve(&c, Some("EC2"), Some(&[item("a", 1, 0)])).unwrap_err();
        assert!(both.to_api().message.starts_with("Specifying both"));
        assert_eq!(
            resolve(&c, None, None).unwrap(),
            Capacity::LaunchType(LaunchType::Ec2)
        );
        let other = resolve(&c, None, Some(&[item("x", 1, 0)])).unwrap_err();
        assert!(other
            .to_api()
            .message
            .contains("not associated with the cluster"));
        let zero = resolve(&c, None, Some(&[item("a", 0, 0), item("b", 0, 0)])).unwrap_err();
        assert!(zero
            .to_api()
            .message
            .contains("weight value greater than zero"));
        let c = cluster(&["a"], vec![item("a", 1, 1)]);
        assert_eq!(
            resolve(&c, None, None).unwrap(),
            Capacity::Strategy(vec![item("a", 1, 1)])
        );
        assert_eq!(
            resolve(&c, Some("EXTERNAL"), None).unwrap(),
            Capacity::LaunchType(LaunchType::External)
        );
        let many: Vec<_> = (0..21).map(|i| item(&format!("p{i}"), 1, 0)).collect();
        assert!(resolve(&c, None, Some(&many))
            .unwrap_err()
            .to_api()
            .message
            .contains("maximum of 20"));
    }
}
