//! What to do about an ECS error, said by the CLI: the server answers in ECS's own words
//! ("Cluster not found."), and the advice Gantry has beyond them is added here, never to
//! the API's message.

/// The advice for an error of exception `kind` with `message`, if Gantry has any.
pub fn hint(kind: &str, message: &str) -> Option<&'static str> {
    Some(match (kind, message) {
        ("ClusterNotFoundException", _) => {
            "check the name with `gantry cluster ls`, or create the cluster first"
        }
        ("ServiceNotFoundException", _) => {
            "check the name with `gantry service ls`, or create the service first"
        }
        ("ServiceNotActiveException", _) => {
            "the service is being deleted or was deleted; create it again to use the name"
        }
        ("ClientException", "Unable to describe task definition.") => {
            "check the family, family:revision or ARN with `gantry taskdef ls`"
        }
        ("ClientException", "Revision is missing.") => {
            "name one revision: family:revision or the task definition's full ARN"
        }
        ("ClientException", "Family contains invalid characters.")
        | ("ClientException", "Container.name contains invalid characters.") => {
            "use 1 to 255 letters, numbers, hyphens and underscores"
        }
        _ if message.contains(" is not supported: ") => {
            "docs/api-coverage.md (Members) lists what Gantry honours and refuses"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn ecs_words_get_advice() {
        assert!(hint("ClusterNotFoundException", "Cluster not found.")
            .is_some_and(|h| h.contains("gantry cluster ls")));
        assert!(hint("ClientException", "Revision is missing.").is_some());
        assert_eq!(hint("ClientException", "Something else."), None);
    }
}
