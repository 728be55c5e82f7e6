//! Random placement: uniform over the instances that fit, by rejection sampling with a full
//! scan as the fallback, so a mostly free cluster costs O(1) per task.

use rand::rngs::StdRng;
use rand::Rng;

use crate::cluster::{suffix_minimums, Cluster};
use crate::place::Chooser;
use crate::TaskRequest;

/// Draws before giving up on sampling and scanning.
const TRIES: usize = 8;

#[derive(Debug)]
pub(crate) struct RandomChooser {
    rng: StdRng,
    /// Schedulable instances that may still take some request of the plan.
    alive: Vec<u32>,
    feasible: Vec<u32>,
    min_cpu: Vec<i64>,
    min_memory: Vec<i64>,
}

impl RandomChooser {
    pub(crate) fn new(cluster: &Cluster<'_>, requests: &[TaskRequest], rng: StdRng) -> Self {
        let (min_cpu, min_memory) = suffix_minimums(requests);
        RandomChooser {
            rng,
            alive: (0..cluster.len())
                .filter(|&i| cluster.schedulable(i) && !cluster.retired(i))
                .filter_map(|i| u32::try_from(i).ok())
                .collect(),
            feasible: Vec::new(),
            min_cpu,
            min_memory,
        }
    }
}

impl Chooser for RandomChooser {
    fn choose(&mut self, cluster: &Cluster<'_>, j: usize, req: &TaskRequest) -> Option<usize> {
        let (min_cpu, min_memory) = (self.min_cpu[j], self.min_memory[j]);
        let dead = |i: usize| {
            cluster.cpu[i] < min_cpu || cluster.memory[i] < min_memory || cluster.retired(i)
        };
        // Each draw is uniform over a set holding every instance that fits, so the first
        // accepted draw is uniform over those that fit.
        for _ in 0..TRIES {
            if self.alive.is_empty() {
                return None;
            }
            let pos = self.rng.random_range(0..self.alive.len());
            let i = self.alive[pos] as usize;
            if dead(i) {
                self.alive.swap_remove(pos);
            } else if cluster.check(i, req).is_ok() {
                return Some(i);
            }
        }
        self.alive.retain(|&i| !dead(i as usize));
        self.feasible.clear();
        self.feasible.extend(
            self.alive
                .iter()
                .copied()
                .filter(|&i| cluster.check(i as usize, req).is_ok()),
        );
        if self.feasible.is_empty() {
            return None;
        }
        let pick = self.rng.random_range(0..self.feasible.len());
        Some(self.feasible[pick] as usize)
    }

    fn commit(&mut self, cluster: &mut Cluster<'_>, i: usize, j: usize, req: &TaskRequest) {
        cluster.commit(i, j, req);
    }
}
