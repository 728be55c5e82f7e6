//! RegisterTaskDefinition's checks of container `dependsOn`, as ECS makes them: the named
//! container exists, no cycle, a COMPLETE or SUCCESS dependency is not essential, a HEALTHY
//! dependency has a health check, and `startTimeout` is not negative. (The model has already required `containerName`
//! and `condition` and refused unknown conditions.)

use gantry_api::model::ContainerDefinition;

use crate::error::{client, Result};

pub fn check(containers: &[ContainerDefinition]) -> Result<()> {
    let name = |c: &ContainerDefinition| c.name.clone().unwrap_or_default();
    let names: Vec<String> = containers.iter().map(name).collect();
    let mut graph: Vec<(&str, Vec<&str>)> = Vec::new();
    for c in containers {
        let me = c.name.as_deref().unwrap_or_default();
        if let Some(t) = c.start_timeout.filter(|t| *t < 0) {
            return Err(client(format!(
                "Container {me} has startTimeout {t}; it must be 0 or more seconds."
            )));
        }
        let mut edges = Vec::new();
        for d in c.depends_on.as_deref().unwrap_or_default() {
            let target = d.container_name.as_deref().unwrap_or_default();
            let condition = d.condition.as_deref().unwrap_or_default();
            let Some(dep) = containers
                .iter()
                .find(|o| o.name.as_deref() == Some(target))
            else {
                return Err(client(format!(
                    "Container {me} cannot depend on container '{target}' because it does not \
                     exist in this task definition; name one of: {}.",
                    names.join(", ")
                )));
            };
            let essential = dep.essential.unwrap_or(true);
            if essential && matches!(condition, "COMPLETE" | "SUCCESS") {
                // ECS's own words, without a full stop, as ECS sends them.
                return Err(client(
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                ));
            }
            if condition == "HEALTHY" && dep.health_check.is_none() {
                return Err(client(format!(
                    "Container {me} depends on {target} with condition HEALTHY, but {target} \
                     has no healthCheck; add a healthCheck to {target} or use START."
                )));
            }
            edges.push(target);
        }
        graph.push((me, edges));
    }
    if let Some(cycle) = gantry_api::depends::find_cycle(&graph) {
        return Err(client(format!(
            "The containers' dependsOn form a cycle ({}); a container cannot wait, directly \
             or through others, for itself. Remove one of these dependencies.",
            cycle.join(" -> ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn defs(v: Value) -> Vec<ContainerDefinition> {
        serde_json::from_value(v).expect("container definitions")
    }

    fn refused(v: Value) -> String {
        match check(&defs(v)) {
            Ok(()) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn valid_dependencies_pass() {
        let ok = defs(json!([
            { "name": "init", "essential": false },
            { "name": "db", "healthCheck": { "command": ["CMD", "true"] } },
            { "name": "main", "dependsOn": [
                { "containerName": "init", "condition": "SUCCESS" },
                { "containerName": "db", "condition": "HEALTHY" },
                { "containerName": "db", "condition": "START" } ] },
        ]));
        check(&ok).expect("valid");
    }

    #[test]
    fn bad_dependencies_are_refused_with_what_to_do() {
        let e = refused(json!([
            { "name": "main", "dependsOn": [{ "containerName": "ghost", "condition": "START" }] },
        ]));
        assert!(e.contains("'ghost' because it does not exist"), "{e}");
        assert!(e.contains("name one of: main"), "{e}");
        let e = refused(json!([
            { "name": "init" },
            { "name": "main", "dependsOn": [{ "containerName": "init", "condition": "COMPLETE" }] },
        ]));
        assert_eq!(
            e,
            "ClientException: A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
        );
        let e = refused(json!([
            { "name": "db" },
            { "name": "main", "dependsOn": [{ "containerName": "db", "condition": "HEALTHY" }] },
        ]));
        assert!(e.contains("db has no healthCheck"), "{e}");
        let e = refused(json!([
            { "name": "a", "dependsOn": [{ "containerName": "b", "condition": "START" }] },
            { "name": "b", "dependsOn": [{ "containerName": "a", "condition": "START" }] },
        ]));
        assert!(e.contains("cycle (a -> b -> a)"), "{e}");
        let e = refused(json!([
            { "name": "a", "dependsOn": [{ "containerName": "a", "condition": "START" }] },
        ]));
        assert!(e.contains("cycle (a -> a)"), "{e}");
        let e = refused(json!([{ "name": "a", "startTimeout": -5 }]));
        assert!(e.contains("startTimeout -5"), "{e}");
    }
}
