//! Container `dependsOn` graphs: the one structural check both the server (at
//! RegisterTaskDefinition) and the node (on a task plan) make.

/// A dependency cycle among `containers` (each a name and the names it depends on), as the
/// names along it with the first repeated at the end (`["a", "b", "a"]`), or `None`.
/// Names that are not in `containers` are ignored (the callers refuse them separately).
pub fn find_cycle<'a>(containers: &[(&'a str, Vec<&'a str>)]) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let index = |name: &str| containers.iter().position(|(n, _)| *n == name);
    let mut mark = vec![Mark::New; containers.len()];
    for root in 0..containers.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Depth-first, iteratively: (node, next edge to follow).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut edge)) = path.last_mut() {
            let deps = &containers[node].1;
            let Some(next) = deps.get(*edge) else {
                mark[node] = Mark::Done;
                path.pop();
                continue;
            };
            *edge += 1;
            let Some(j) = index(next) else { continue };
            match mark[j] {
                Mark::Done => {}
                Mark::OnPath => {
                    let start = path.iter().position(|(n, _)| *n == j).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[start..]
                        .iter()
                        .map(|(n, _)| containers[*n].0)
                        .collect();
                    cycle.push(containers[j].0);
                    return Some(cycle);
                }
                Mark::New => {
                    mark[j] = Mark::OnPath;
                    path.push((j, 0));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_and_chains_are_not() {
        assert_eq!(find_cycle(&[]), None);
        let chain = [("a", vec![]), ("b", vec!["a"]), ("c", vec!["b", "a"])];
        assert_eq!(find_cycle(&chain), None);
        let unknown = [("a", vec!["nope"])];
        assert_eq!(find_cycle(&unknown), None);
        assert_eq!(find_cycle(&[("a", vec!["a"])]), Some(vec!["a", "a"]));
        let three = [
            ("x", vec![]),
            ("a", vec!["c", "x"]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
        ];
        assert_eq!(find_cycle(&three), Some(vec!["a", "c", "b", "a"]));
        // A diamond is not a cycle.
        let diamond = [
            ("top", vec!["l", "r"]),
            ("l", vec!["base"]),
            ("r", vec!["base"]),
            ("base", vec![]),
        ];
        assert_eq!(find_cycle(&diamond), None);
    }
}
