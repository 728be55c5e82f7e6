//! The general ranking: every instance, every request. Used when the index cannot model the
//! strategies (spread over two attributes) and as the tests' reference.

use crate::cluster::Cluster;
use crate::keys::Key;
use crate::place::Chooser;
use crate::TaskRequest;

#[derive(Debug)]
pub(crate) struct Linear {
    keys: Vec<Key>,
    best: Vec<i64>,
    current: Vec<i64>,
}

impl Linear {
    pub(crate) fn new(keys: Vec<Key>) -> Linear {
        Linear {
            best: Vec::with_capacity(keys.len()),
            current: Vec::with_capacity(keys.len()),
            keys,
        }
    }
}

impl Chooser for Linear {
    fn choose(&mut self, cluster: &Cluster<'_>, _j: usize, req: &TaskRequest) -> Option<usize> {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..cluster.len() {
            if !cluster.fits(i, req) {
                continue;
            }
            self.current.clear();
            self.current
                .extend(self.keys.iter().map(|k| k.of(cluster, i)));
            let better = match best {
                None => true,
                Some((rank, _)) => (&self.current, cluster.rank[i]) < (&self.best, rank),
            };
            if better {
                std::mem::swap(&mut self.best, &mut self.current);
                best = Some((cluster.rank[i], i));
            }
        }
        best.map(|(_, i)| i)
    }

    fn commit(&mut self, cluster: &mut Cluster<'_>, i: usize, j: usize, req: &TaskRequest) {
        cluster.commit(i, j, req);
    }
}
