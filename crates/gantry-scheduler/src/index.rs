//! Fast ranking for strategy lists with at most one spread-by-attribute key.
//!
//! Instances are partitioned by that attribute's value (one partition without it). Inside
//! a partition the group's task count is the same for everyone, so ordering by the other keys
//! and then the shuffle rank orders by the full key: each partition is a `BTreeSet` and its
//! first entry that fits is its best candidate. The plan takes the best candidate over the
//! partitions; when the group key comes first, partitions are visited by task count and the
//! walk stops at the first count level with a candidate.
//!
//! When the first per-instance key is binpack, the walk starts at the request's own cpu or
//! memory, skipping every instance too small. Instances that can no longer take any of the
//! plan's remaining requests (less cpu or memory than the smallest still to come) leave the
//! index for good, so full instances are not walked over again and again.

use std::collections::BTreeSet;

use crate::cluster::{suffix_minimums, Cluster};
use crate::keys::Key;
use crate::place::Chooser;
use crate::TaskRequest;

/// The per-instance keys (at most three: cpu, memory, tasks), the shuffle rank, the instance,
/// and the instance's remaining cpu and memory when the entry was made (an entry is remade
/// whenever they change). Carrying them in the entry lets a walk skip instances that are too
/// small without touching the cluster's arrays: the walk reads only the tree's own nodes.
type Entry = ([i64; 3], u32, u32, [i64; 2]);

/// A full key: the per-instance keys with the group's task count at its place.
type Full = [i64; 4];

#[derive(Debug)]
pub(crate) struct Index {
    /// Keys other than the group key, in strategy order.
    inner: Vec<Key>,
    /// Where the group key sits among all keys.
    group: Option<usize>,
    parts: Vec<BTreeSet<Entry>>,
    /// (group task count, partition) for every non-empty partition.
    order: BTreeSet<(i64, u32)>,
    min_cpu: Vec<i64>,
    min_memory: Vec<i64>,
    /// Entries found dead during a walk, removed after it.
    dead: Vec<(u32, Entry)>,
    /// A copy of `order` for the walk, kept to reuse its allocation.
    walk: Vec<(i64, u32)>,
}

impl Index {
    /// `keys` may hold `Key::Group(0)` only as its group key (the caller routes other lists
    /// to the linear scan).
    pub(crate) fn new(cluster: &Cluster<'_>, keys: Vec<Key>, requests: &[TaskRequest]) -> Self {
        let group = keys.iter().position(|k| matches!(k, Key::Group(_)));
        let inner: Vec<Key> = keys
            .into_iter()
            .filter(|k| !matches!(k, Key::Group(_)))
            .collect();
        let part_count = match group {
            Some(_) => cluster.groupings.first().map_or(1, |g| g.len().max(1)),
            None => 1,
        };
        let (min_cpu, min_memory) = suffix_minimums(requests);
        let mut index = Index {
            inner,
            group,
            parts: vec![BTreeSet::new(); part_count],
            order: BTreeSet::new(),
            min_cpu,
            min_memory,
            dead: Vec::new(),
            walk: Vec::new(),
        };
        for i in 0..cluster.len() {
            if cluster.schedulable(i) && index.alive(cluster, i, 0) && !cluster.retired(i) {
                let part = index.part_of(cluster, i);
                let entry = index.entry(cluster, i);
                index.parts[part].insert(entry);
            }
        }
        for part in 0..part_count {
            if !index.parts[part].is_empty() {
                let tasks = index.group_tasks(cluster, part);
                index.order.insert((tasks, to_u32(part)));
            }
        }
        index
    }

    fn alive(&self, cluster: &Cluster<'_>, i: usize, j: usize) -> bool {
        cluster.cpu[i] >= self.min_cpu[j] && cluster.memory[i] >= self.min_memory[j]
    }

    fn part_of(&self, cluster: &Cluster<'_>, i: usize) -> usize {
        match (self.group, cluster.groupings.first()) {
            (Some(_), Some(g)) => g.of[i] as usize,
            _ => 0,
        }
    }

    fn group_tasks(&self, cluster: &Cluster<'_>, part: usize) -> i64 {
        match (self.group, cluster.groupings.first()) {
            (Some(_), Some(g)) => g.tasks[part],
            _ => 0,
        }
    }

    fn entry(&self, cluster: &Cluster<'_>, i: usize) -> Entry {
        let mut keys = [0i64; 3];
        for (slot, key) in keys.iter_mut().zip(&self.inner) {
            *slot = key.of(cluster, i);
        }
        (
            keys,
            cluster.rank[i],
            to_u32(i),
            [cluster.cpu[i], cluster.memory[i]],
        )
    }

    fn full(&self, keys: &[i64; 3], group_tasks: i64) -> Full {
        let mut full = [0i64; 4];
        let mut inner = keys.iter();
        for (pos, slot) in full.iter_mut().enumerate() {
            *slot = if self.group == Some(pos) {
                group_tasks
            } else {
                inner.next().copied().unwrap_or(0)
            };
        }
        full
    }

    /// The first entry of `part` at or after the binpack seek point that fits `req`.
    fn first_fit(
        &mut self,
        cluster: &Cluster<'_>,
        part: u32,
        j: usize,
        req: &TaskRequest,
    ) -> Option<Entry> {
        let floor = match self.inner.first() {
            Some(Key::Cpu) => req.cpu,
            Some(Key::Memory) => req.memory,
            _ => i64::MIN,
        };
        let start: Entry = ([floor, i64::MIN, i64::MIN], 0, 0, [0, 0]);
        let (min_cpu, min_memory) = (self.min_cpu[j], self.min_memory[j]);
        for &entry in self.parts[part as usize].range(start..) {
            let [cpu, memory] = entry.3;
            if cpu < min_cpu || memory < min_memory {
                self.dead.push((part, entry));
            } else if cpu >= req.cpu
                && memory >= req.memory
                && cluster.check(entry.2 as usize, req).is_ok()
            {
                return Some(entry);
            }
        }
        None
    }

    fn remove(&mut self, cluster: &Cluster<'_>, part: usize, entry: &Entry) {
        let set = &mut self.parts[part];
        if set.remove(entry) && set.is_empty() {
            let tasks = self.group_tasks(cluster, part);
            self.order.remove(&(tasks, to_u32(part)));
        }
    }
}

impl Chooser for Index {
    fn choose(&mut self, cluster: &Cluster<'_>, j: usize, req: &TaskRequest) -> Option<usize> {
        let group_first = self.group == Some(0);
        let mut best: Option<(Full, u32, u32)> = None;
        let mut level = None;
        // The order set is small (one entry per attribute value); copying it out lets the
        // walk record dead entries.
        let mut walk = std::mem::take(&mut self.walk);
        walk.clear();
        walk.extend(self.order.iter().copied());
        for &(tasks, part) in &walk {
            if group_first {
                if best.is_some() && level != Some(tasks) {
                    break;
                }
                level = Some(tasks);
            }
            if let Some((keys, rank, i, _)) = self.first_fit(cluster, part, j, req) {
                let full = self.full(&keys, tasks);
                if best.is_none_or(|(bf, br, _)| (full, rank) < (bf, br)) {
                    best = Some((full, rank, i));
                }
            }
        }
        self.walk = walk;
        let dead = std::mem::take(&mut self.dead);
        for (part, entry) in &dead {
            self.remove(cluster, *part as usize, entry);
        }
        self.dead = dead;
        self.dead.clear();
        best.map(|(_, _, i)| i as usize)
    }

    fn commit(&mut self, cluster: &mut Cluster<'_>, i: usize, j: usize, req: &TaskRequest) {
        let part = self.part_of(cluster, i);
        let old = self.entry(cluster, i);
        let old_tasks = self.group_tasks(cluster, part);
        self.parts[part].remove(&old);
        cluster.commit(i, j, req);
        // Constraints change only here, on the instance that took the task: one it now
        // breaks for good leaves the index (see `crate::constraint`).
        if self.alive(cluster, i, j + 1) && !cluster.retired(i) {
            let entry = self.entry(cluster, i);
            self.parts[part].insert(entry);
        }
        self.order.remove(&(old_tasks, to_u32(part)));
        if !self.parts[part].is_empty() {
            let tasks = self.group_tasks(cluster, part);
            self.order.insert((tasks, to_u32(part)));
        }
    }
}

/// Instance and partition numbers fit in `u32`: a cluster has far fewer than 4 billion.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
