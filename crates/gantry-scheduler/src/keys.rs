//! Strategies turned into sort keys.

use crate::cluster::Cluster;
use crate::Strategy;

/// One component of an instance's rank; smaller is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// Binpack on cpu: least remaining cpu first.
    Cpu,
    /// Binpack on memory: least remaining memory first.
    Memory,
    /// Spread over instances: fewest tasks first.
    Tasks,
    /// Spread over the values of attribute `n` (an index into the cluster's groupings):
    /// the group with the fewest tasks first.
    Group(usize),
}

impl Key {
    pub(crate) fn of(self, cluster: &Cluster<'_>, i: usize) -> i64 {
        match self {
            Key::Cpu => cluster.cpu[i],
            Key::Memory => cluster.memory[i],
            Key::Tasks => cluster.tasks[i],
            Key::Group(n) => {
                let g = &cluster.groupings[n];
                g.tasks[g.of[i] as usize]
            }
        }
    }
}

/// How a plan ranks instances.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranking<'s> {
    /// Uniformly random among the instances that fit.
    Random,
    /// Lexicographic keys, then the seeded shuffle. `attributes[n]` is the attribute of
    /// `Key::Group(n)`.
    Keys {
        keys: Vec<Key>,
        attributes: Vec<&'s str>,
    },
}

/// Reads the strategies in order.
///
/// - An empty list, or a list whose first usable strategy is `random`, is random placement.
/// - `random` after other strategies ends the list: it only reorders ties, and the seeded
///   shuffle already breaks ties at random.
/// - A strategy repeated later adds nothing and is dropped; `spread(host)` is
///   `spread(instanceId)` (one host is one instance).
/// - Fields we do not know (`binpack(disk)`, `spread(foo)`) are skipped: the API layer
///   rejects them with `InvalidParameterException` before a plan is made.
pub(crate) fn ranking(strategies: &[Strategy]) -> Ranking<'_> {
    let mut keys = Vec::new();
    let mut attributes: Vec<&str> = Vec::new();
    for strategy in strategies {
        let key = match strategy {
            Strategy::Random => break,
            Strategy::Binpack { field } => match field.as_str() {
                "cpu" => Key::Cpu,
                "memory" => Key::Memory,
                _ => continue,
            },
            Strategy::Spread { field } => match field.as_str() {
                "instanceId" | "host" => Key::Tasks,
                f => match f.strip_prefix("attribute:") {
                    Some(name) if !name.is_empty() => {
                        let n = attributes
                            .iter()
                            .position(|a| *a == name)
                            .unwrap_or_else(|| {
                                attributes.push(name);
                                attributes.len() - 1
                            });
                        Key::Group(n)
                    }
                    _ => continue,
                },
            },
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        Ranking::Random
    } else {
        Ranking::Keys { keys, attributes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(f: &str) -> Strategy {
        Strategy::Spread { field: f.into() }
    }
    fn binpack(f: &str) -> Strategy {
        Strategy::Binpack { field: f.into() }
    }

    #[test]
    fn empty_and_leading_random_are_random() {
        assert_eq!(ranking(&[]), Ranking::Random);
        assert_eq!(
            ranking(&[Strategy::Random, binpack("cpu")]),
            Ranking::Random
        );
        assert_eq!(ranking(&[binpack("disk")]), Ranking::Random);
    }

    #[test]
    fn keys_in_order_without_repeats() {
        let strategies = [
            spread("attribute:zone"),
            spread("host"),
            spread("instanceId"),
            binpack("memory"),
            spread("attribute:zone"),
            spread("attribute:rack"),
            Strategy::Random,
            binpack("cpu"),
        ];
        assert_eq!(
            ranking(&strategies),
            Ranking::Keys {
                keys: vec![Key::Group(0), Key::Tasks, Key::Memory, Key::Group(1)],
                attributes: vec!["zone", "rack"],
            }
        );
    }
}
