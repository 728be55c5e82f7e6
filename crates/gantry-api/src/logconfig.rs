//! A container's `logConfiguration`: which drivers Gantry accepts, and the names ECS gives
//! `awslogs` streams. Gantry keeps every container's output on its node (read with
//! `gantry logs`); `awslogs` adds the CloudWatch-style group and stream names, so a stream
//! can be found under the name ECS would give it: `prefix/container-name/task-id`.

use crate::model::LogConfiguration;

pub const AWSLOGS: &str = "awslogs";
/// Docker's default driver, and what Gantry does when no logConfiguration is given.
pub const JSON_FILE: &str = "json-file";

/// `awslogs` options Gantry accepts (those of the Docker driver and the ECS agent).
const AWSLOGS_OPTIONS: &[&str] = &[
    "awslogs-group",
    "awslogs-region",
    "awslogs-stream-prefix",
    "awslogs-create-group",
    "awslogs-datetime-format",
    "awslogs-multiline-pattern",
    "awslogs-endpoint",
    "awslogs-credentials-endpoint",
    "mode",
    "max-buffer-size",
];

/// The `awslogs` settings of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogs {
    pub group: String,
    pub prefix: Option<String>,
    pub region: Option<String>,
}

impl AwsLogs {
    /// The stream ECS names for `container` of task `task_id`: `prefix/container/task-id`;
    /// without a prefix, the container's id (`<task-id>-<container>`, Docker's default is
    /// the container id too).
    pub fn stream(&self, container: &str, task_id: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}/{container}/{task_id}"),
            None => format!("{task_id}-{container}"),
        }
    }
}

/// Splits a stream name into (prefix, container, task id); `None` when it is neither
/// `prefix/container/task-id` nor `<task-id>-<container>` (task ids are 32 hex digits).
pub fn parse_stream(stream: &str) -> Option<(Option<&str>, &str, &str)> {
    let is_task_id = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut parts = stream.rsplitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(task), Some(container), Some(prefix))
            if is_task_id(task) && !container.is_empty() && !prefix.is_empty() =>
        {
            Some((Some(prefix), container, task))
        }
        (Some(_), None, None) => {
            let (task, container) = (stream.get(..32)?, stream.get(33..)?);
            (is_task_id(task) && stream.as_bytes()[32] == b'-' && !container.is_empty())
                .then_some((None, container, task))
        }
        _ => None,
    }
}

/// What RegisterTaskDefinition checks: the driver is `awslogs` or `json-file`, and `awslogs`
/// has a valid `awslogs-group`. `Ok(Some)` for `awslogs`; the error says what to change.
pub fn check(container: &str, lc: &LogConfiguration) -> Result<Option<AwsLogs>, String> {
    let driver = lc.log_driver.as_deref().unwrap_or_default();
    let options = lc.options.clone().unwrap_or_default();
    match driver {
        JSON_FILE => return Ok(None),
        AWSLOGS => {}
        other => {
            return Err(format!(
                "Container {container} has logDriver {other:?}, which Gantry does not support: use awslogs (output kept on the node under CloudWatch-style group and stream names) or json-file, and read it with `gantry logs`."
            ))
        }
    }
    if let Some(k) = options
        .keys()
        .find(|k| !AWSLOGS_OPTIONS.contains(&k.as_str()))
    {
        return Err(format!(
            "Container {container} has unknown awslogs option {k:?}; the awslogs options are {}.",
            AWSLOGS_OPTIONS.join(", ")
        ));
    }
    let group = options.get("awslogs-group").cloned().unwrap_or_default();
    let group_ok = (1..=512).contains(&group.len())
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if !group_ok {
        return Err(format!(
            "Container {container} uses the awslogs log driver and needs an awslogs-group option of 1 to 512 letters, digits and . _ - / # (got {group:?})."
        ));
    }
    let prefix = options.get("awslogs-stream-prefix").cloned();
    if let Some(p) = &prefix {
        if p.is_empty() || p.len() > 256 || p.contains([':', '*']) {
            return Err(format!(
                "Container {container} has awslogs-stream-prefix {p:?}; it must be 1 to 256 characters without ':' or '*'."
            ));
        }
    }
    Ok(Some(AwsLogs {
        group,
        prefix,
        region: options.get("awslogs-region").cloned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(driver: &str, opts: &[(&str, &str)]) -> LogConfiguration {
        LogConfiguration {
            log_driver: Some(driver.into()),
            options: Some(
                opts.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            secret_options: None,
        }
    }

    #[test]
    fn drivers_options_and_stream_names() {
        let id = "0123456789abcdef0123456789abcdef";
        let a = check(
            "web",
            &lc(
                "awslogs",
                &[
                    ("awslogs-group", "/ecs/web"),
                    ("awslogs-stream-prefix", "app"),
                ],
            ),
        )
        .expect("valid")
        .expect("awslogs");
        let s = a.stream("web", id);
        assert_eq!(s, format!("app/web/{id}"));
        assert_eq!(parse_stream(&s), Some((Some("app"), "web", id)));
        let bare = AwsLogs { prefix: None, ..a };
        assert_eq!(
            parse_stream(&bare.stream("web", id)),
            Some((None, "web", id))
        );
        assert_eq!(parse_stream("app/web/not-a-task"), None);
        assert_eq!(parse_stream("web"), None);
        assert_eq!(check("web", &lc("json-file", &[])), Ok(None));
        let e = check("web", &lc("splunk", &[])).unwrap_err();
        assert!(e.contains("\"splunk\"") && e.contains("awslogs"), "{e}");
        assert!(check("web", &lc("awslogs", &[])).is_err());
        assert!(check(
            "web",
            &lc("awslogs", &[("awslogs-group", "g"), ("colour", "x")])
        )
        .is_err());
        let star = [("awslogs-group", "g"), ("awslogs-stream-prefix", "a*")];
        assert!(check("web", &lc("awslogs", &star)).is_err());
    }
}
