//! ECS-format ARNs: `arn:aws:ecs:<region>:<account>:<resource>/<...>`.

/// Builds ARNs for one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnBuilder {
    pub region: String,
    pub account_id: String,
}

impl ArnBuilder {
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            account_id: account_id.into(),
        }
    }
    fn arn(&self, resource: &str) -> String {
        format!("arn:aws:ecs:{}:{}:{resource}", self.region, self.account_id)
    }
    pub fn cluster(&self, name: &str) -> String {
        self.arn(&format!("cluster/{name}"))
    }
    pub fn task_definition(&self, family: &str, revision: i64) -> String {
        self.arn(&format!("task-definition/{family}:{revision}"))
    }
    pub fn task(&self, cluster: &str, id: &str) -> String {
        self.arn(&format!("task/{cluster}/{id}"))
    }
    pub fn container(&self, cluster: &str, task_id: &str, container_id: &str) -> String {
        self.arn(&format!("container/{cluster}/{task_id}/{container_id}"))
    }
    pub fn container_instance(&self, cluster: &str, id: &str) -> String {
        self.arn(&format!("container-instance/{cluster}/{id}"))
    }
    pub fn service(&self, cluster: &str, name: &str) -> String {
        self.arn(&format!("service/{cluster}/{name}"))
    }
    pub fn service_deployment(&self, cluster: &str, service: &str, id: &str) -> String {
        self.arn(&format!("service-deployment/{cluster}/{service}/{id}"))
    }
    pub fn service_revision(&self, cluster: &str, service: &str, id: &str) -> String {
        self.arn(&format!("service-revision/{cluster}/{service}/{id}"))
    }
}

/// A parsed ECS ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    /// `cluster`, `task`, `task-definition`, `container-instance`, `service`, ...
    pub resource_type: &'a str,
    /// Everything after `<type>/`.
    pub resource: &'a str,
}

/// Parses `arn:aws:ecs:region:account:type/rest`. Returns `None` for anything else.
pub fn parse(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    if parts.next()? != "ecs" {
        return None;
    }
    let region = parts.next()?;
    let account_id = parts.next()?;
    let rest = parts.next()?;
    let (resource_type, resource) = rest.split_once('/')?;
    Some(Arn {
        region,
        account_id,
        resource_type,
        resource,
    })
}

/// The last `/`-separated part of an ARN, or the string itself when it is not an ARN: ECS
/// accepts either a short name/id or a full ARN almost everywhere.
pub fn short_id(s: &str) -> &str {
    match parse(s) {
        Some(arn) => arn.resource.rsplit('/').next().unwrap_or(arn.resource),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let b = ArnBuilder::new("us-east-1", "123456789012");
        let t = b.task("default", "abc");
        assert_eq!(t, "arn:aws:ecs:us-east-1:123456789012:task/default/abc");
        let p = parse(&t).unwrap();
        assert_eq!(p.resource_type, "task");
        assert_eq!(short_id(&t), "abc");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(
            short_id(&b.task_definition("web", 3)),
            "web:3",
            "task definition ARNs end in family:revision"
        );
    }
}
