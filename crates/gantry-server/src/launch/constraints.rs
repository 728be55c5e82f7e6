//! Placement constraints, from their wire form to the scheduler's [`Constraint`]s: RunTask's
//! and CreateService's `placementConstraints` (`distinctInstance` or `memberOf`), and a task
//! definition's (`memberOf` only, as ECS). All of them must hold together.

use gantry_api::model::{PlacementConstraint, TaskDefinitionPlacementConstraint};
use gantry_scheduler::query::{self, Expr};
use gantry_scheduler::Constraint;

use crate::error::{invalid, Result};

/// ECS's limit on a call's constraints (and, separately, a task definition's).
pub const MAX: usize = 10;

fn member_of(expression: Option<&str>, whose: &str) -> Result<Constraint> {
    let text = expression.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(invalid(format!(
            "A memberOf placement constraint {whose}needs an expression, e.g. attribute:ecs.instance-type == t3.large."
        )));
    }
    Constraint::member_of(text).map_err(|e| {
        invalid(format!(
            "The memberOf placement constraint expression {text:?} {whose}is not valid: {e}."
        ))
    })
}

fn too_many(n: usize, whose: &str) -> Result<()> {
    if n > MAX {
        return Err(invalid(format!(
            "{whose}has {n} placement constraints; at most {MAX} are allowed."
        )));
    }
    Ok(())
}

/// A request's `placementConstraints`.
pub fn of_request(list: &[PlacementConstraint]) -> Result<Vec<Constraint>> {
    too_many(list.len(), "The request ")?;
    list.iter()
        .map(|c| match c.r#type.as_deref() {
            Some("distinctInstance") => {
                if c.expression
                    .as_deref()
                    .is_some_and(|e| !e.trim().is_empty())
                {
                    return Err(invalid(
                        "A distinctInstance placement constraint takes no expression; remove it.",
                    ));
                }
                Ok(Constraint::DistinctInstance)
            }
            Some("memberOf") => member_of(c.expression.as_deref(), ""),
            other => Err(invalid(format!(
                "Placement constraint type {} is not valid: use distinctInstance or memberOf.",
                other.unwrap_or("(none)")
            ))),
        })
        .collect()
}

/// A task definition's `placementConstraints`.
pub fn of_definition(list: &[TaskDefinitionPlacementConstraint]) -> Result<Vec<Constraint>> {
    too_many(list.len(), "The task definition ")?;
    list.iter()
        .map(|c| match c.r#type.as_deref() {
            Some("memberOf") => member_of(c.expression.as_deref(), "of the task definition "),
            other => Err(invalid(format!(
                "Task definition placement constraint type {} is not valid: only memberOf is allowed.",
                other.unwrap_or("(none)")
            ))),
        })
        .collect()
}

/// A ListContainerInstances `filter`.
pub fn filter(text: &str) -> Result<Expr> {
    query::parse(text).map_err(|e| {
        invalid(format!(
            "The filter {text:?} is not a valid cluster query: {e}."
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(t: &str, e: Option<&str>) -> PlacementConstraint {
        PlacementConstraint {
            r#type: Some(t.into()),
            expression: e.map(str::to_string),
        }
    }

    #[test]
    fn parses_both_kinds() {
        let c = of_request(&[
            pc("distinctInstance", None),
            pc("memberOf", Some("attribute:stack == prod")),
        ])
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], Constraint::DistinctInstance);
    }

    #[test]
    fn errors_name_the_position_and_the_limit() {
        let e = of_request(&[pc("memberOf", Some("attribute:stack =="))])
            .unwrap_err()
            .to_api();
        assert!(e.message.contains("position"), "{}", e.message);
        let many = vec![pc("distinctInstance", None); 11];
        assert!(of_request(&many)
            .unwrap_err()
            .to_api()
            .message
            .contains("at most 10"));
        let d = TaskDefinitionPlacementConstraint {
            r#type: Some("distinctInstance".into()),
            expression: None,
        };
        assert!(of_definition(&[d]).is_err());
    }
}
