//! What Gantry does with every member of the requests that describe work for the nodes
//! (RegisterTaskDefinition, CreateService, UpdateService, RunTask, StartTask): honoured,
//! honoured for some values only, stored and shown without effect (with the reason), or
//! refused by name. [`check`] refuses a request that uses a refused member before its handler
//! runs; `tests/api_coverage.rs` walks the model from [`ROOTS`] and fails on a member that
//! has no decision here, and renders this table into `docs/api-coverage.md`.

use gantry_api::ecs::validate::{shape, ShapeKind};
use gantry_api::{ApiError, ErrorKind};
use serde_json::Value;

use crate::error::{Error, Result};

/// What Gantry does with one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Done on the node or in the control plane as ECS does it; the note says how far.
    Honoured(&'static str),
    /// Made to work by the secrets work (issue 15).
    Secrets,
    /// Honoured for these values only; any other value is refused with the reason.
    Only(&'static [&'static str], &'static str),
    /// Kept and shown as given, with no effect; the reason.
    Stored(&'static str),
    /// Refused by name whenever it is given; the reason. Its members need no decision.
    Refused(&'static str),
}

/// The operations whose members are decided, and their input shapes.
pub const ROOTS: &[(&str, &str)] = &[
    ("RegisterTaskDefinition", "RegisterTaskDefinitionRequest"),
    ("CreateService", "CreateServiceRequest"),
    ("UpdateService", "UpdateServiceRequest"),
    ("RunTask", "RunTaskRequest"),
    ("StartTask", "StartTaskRequest"),
];

use Decision::{Honoured as H, Only, Refused as R, Secrets, Stored as S};

const NO_TASK_ROLE: &str = "Gantry has no task credentials endpoint, so the containers would not get the role's credentials";
const NO_EXEC: &str = "Gantry has no ECS Exec";
const NO_MANAGED_TAGS: &str = "Gantry does not add ECS's managed tags to tasks";
const NO_PROPAGATION: &str = "Gantry does not propagate tags to tasks";
const NO_FARGATE: &str = "it applies to Fargate, which Gantry does not run yet";
const NO_EBS: &str = "Gantry has no Amazon EBS volumes";
const CAPACITY_PROVIDERS: &str = "EC2-style providers, by base then weight (docs/capacity-providers.md); FARGATE and FARGATE_SPOT are refused until Fargate comes";
const NO_ELB: &str = "Gantry has no Elastic Load Balancing";
const NO_CLOUD_MAP: &str = "Gantry has no Cloud Map or Service Connect";
const NO_GPU: &str = "Gantry schedules no GPUs or accelerators";
const NO_S3: &str = "Gantry has no S3 to read the files from";
const AWSVPC_INFO: &str = "a task's address comes from its node's task subnet; subnets and security groups are not applied";
const NO_REFERENCE: &str = "ECS ties such a task to a deployment it runs for another service; Gantry has no such deployments";

/// The decision for every member reached from [`ROOTS`], keyed `Shape.member`.
pub static MEMBERS: &[(&str, Decision)] = &[
    // RegisterTaskDefinition
    ("RegisterTaskDefinitionRequest.family", H("")),
    ("RegisterTaskDefinitionRequest.taskRoleArn", R(NO_TASK_ROLE)),
    ("RegisterTaskDefinitionRequest.executionRoleArn", Secrets),
    ("RegisterTaskDefinitionRequest.networkMode", H("bridge, host, awsvpc and none")),
    ("RegisterTaskDefinitionRequest.containerDefinitions", H("")),
    ("RegisterTaskDefinitionRequest.volumes", H("")),
    ("RegisterTaskDefinitionRequest.placementConstraints", H("memberOf")),
    ("RegisterTaskDefinitionRequest.requiresCompatibilities", H("EC2 and EXTERNAL; FARGATE is refused until Fargate comes")),
    ("RegisterTaskDefinitionRequest.cpu", H("the task's cgroup")),
    ("RegisterTaskDefinitionRequest.memory", H("the task's cgroup")),
    ("RegisterTaskDefinitionRequest.tags", H("")),
    ("RegisterTaskDefinitionRequest.pidMode", R("every container has its own PID namespace on Gantry")),
    ("RegisterTaskDefinitionRequest.ipcMode", R("every container has its own IPC namespace on Gantry")),
    ("RegisterTaskDefinitionRequest.proxyConfiguration", R("Gantry has no App Mesh proxy")),
    ("RegisterTaskDefinitionRequest.inferenceAccelerators", R(NO_GPU)),
    ("RegisterTaskDefinitionRequest.ephemeralStorage", R(NO_FARGATE)),
    ("RegisterTaskDefinitionRequest.runtimePlatform", H("")),
    ("RegisterTaskDefinitionRequest.enableFaultInjection", R("Gantry has no fault injection endpoints")),
    ("RegisterTaskDefinitionRequest.trustedExecutionConfiguration", R("Gantry has no trusted execution environments")),
    ("RuntimePlatform.cpuArchitecture", S("each node pulls the image for its own platform; not used for placement")),
    ("RuntimePlatform.operatingSystemFamily", Only(&["LINUX"], "Gantry runs Linux containers only")),
    ("TaskDefinitionPlacementConstraint.type", H("")),
    ("TaskDefinitionPlacementConstraint.expression", H("")),
    ("Tag.key", H("")),
    ("Tag.value", H("")),
    // ContainerDefinition
    ("ContainerDefinition.name", H("")),
    ("ContainerDefinition.image", H("pulled over the OCI distribution protocol")),
    ("ContainerDefinition.repositoryCredentials", Secrets),
    ("ContainerDefinition.cpu", H("cpu shares")),
    ("ContainerDefinition.memory", H("hard limit")),
    ("ContainerDefinition.memoryReservation", H("soft limit")),
    ("ContainerDefinition.links", R("Gantry has no Docker links; containers of a task reach each other over the task's network")),
    ("ContainerDefinition.portMappings", H("")),
    ("ContainerDefinition.essential", H("")),
    ("ContainerDefinition.restartPolicy", R("the agent does not restart containers in place")),
    ("ContainerDefinition.entryPoint", H("")),
    ("ContainerDefinition.command", H("")),
    ("ContainerDefinition.environment", H("")),
    ("ContainerDefinition.environmentFiles", R(NO_S3)),
    ("ContainerDefinition.mountPoints", H("")),
    ("ContainerDefinition.volumesFrom", R("the agent does not share one container's mounts with another")),
    ("ContainerDefinition.linuxParameters", H("")),
    ("ContainerDefinition.secrets", Secrets),
    ("ContainerDefinition.dependsOn", H("")),
    ("ContainerDefinition.startTimeout", H("")),
    ("ContainerDefinition.stopTimeout", H("")),
    ("ContainerDefinition.versionConsistency", Only(&["disabled"], "each node resolves the image tag when it pulls; Gantry does not pin one digest for all tasks")),
    ("ContainerDefinition.hostname", H("")),
    ("ContainerDefinition.user", H("")),
    ("ContainerDefinition.workingDirectory", H("")),
    ("ContainerDefinition.disableNetworking", R("use networkMode none")),
    ("ContainerDefinition.privileged", H("unless the agent runs with --disable-privileged: then the task fails to start, naming it")),
    ("ContainerDefinition.readonlyRootFilesystem", H("")),
    ("ContainerDefinition.dnsServers", R("the agent writes the task's resolv.conf from the node's")),
    ("ContainerDefinition.dnsSearchDomains", R("the agent writes the task's resolv.conf from the node's")),
    ("ContainerDefinition.extraHosts", R("the agent does not add entries to the task's /etc/hosts")),
    ("ContainerDefinition.dockerSecurityOptions", R("Gantry applies its own seccomp profile and no SELinux or AppArmor labels")),
    ("ContainerDefinition.interactive", R("containers get no standard input")),
    ("ContainerDefinition.pseudoTerminal", R("containers get no terminal")),
    ("ContainerDefinition.dockerLabels", S("Gantry has no Docker daemon to label; kept in the task definition")),
    ("ContainerDefinition.ulimits", H("")),
    ("ContainerDefinition.logConfiguration", H("")),
    ("ContainerDefinition.healthCheck", H("run inside the container")),
    ("ContainerDefinition.systemControls", R("the agent sets no namespaced sysctls")),
    ("ContainerDefinition.resourceRequirements", R(NO_GPU)),
    ("ContainerDefinition.firelensConfiguration", R("Gantry has no FireLens log router")),
    ("ContainerDefinition.credentialSpecs", R("Active Directory credential specs are for Windows containers")),
    ("RepositoryCredentials.credentialsParameter", Secrets),
    ("PortMapping.containerPort", H("")),
    ("PortMapping.hostPort", H("static or dynamic, in nftables")),
    ("PortMapping.protocol", H("")),
    ("PortMapping.name", S("names a port for Service Connect, which Gantry does not have")),
    ("PortMapping.appProtocol", S("used by Service Connect, which Gantry does not have")),
    ("PortMapping.containerPortRange", H("")),
    ("KeyValuePair.name", H("")),
    ("KeyValuePair.value", H("")),
    ("MountPoint.sourceVolume", H("")),
    ("MountPoint.containerPath", H("")),
    ("MountPoint.readOnly", H("")),
    ("LinuxParameters.capabilities", H("")),
    ("LinuxParameters.devices", R("the agent maps no host devices into containers")),
    ("LinuxParameters.initProcessEnabled", R("the agent runs no init process in containers")),
    ("LinuxParameters.sharedMemorySize", R("/dev/shm has the runtime's fixed size")),
    ("LinuxParameters.tmpfs", R("the agent mounts no tmpfs a task asks for")),
    ("LinuxParameters.maxSwap", R("the agent sets no swap limits")),
    ("LinuxParameters.swappiness", R("the agent sets no swap limits")),
    ("KernelCapabilities.add", H("")),
    ("KernelCapabilities.drop", H("")),
    ("Secret.name", Secrets),
    ("Secret.valueFrom", Secrets),
    ("ContainerDependency.containerName", H("")),
    ("ContainerDependency.condition", H("START, COMPLETE, SUCCESS, HEALTHY")),
    ("Ulimit.name", H("")),
    ("Ulimit.softLimit", H("")),
    ("Ulimit.hardLimit", H("")),
    ("LogConfiguration.logDriver", H("awslogs and json-file (output kept on the node, read with `gantry logs`); other drivers are refused by name")),
    ("LogConfiguration.options", H("")),
    ("LogConfiguration.secretOptions", R("Gantry's log drivers (awslogs, json-file) keep output on the node and take no secret options")),
    ("HealthCheck.command", H("")),
    ("HealthCheck.interval", H("")),
    ("HealthCheck.timeout", H("")),
    ("HealthCheck.retries", H("")),
    ("HealthCheck.startPeriod", H("")),
    // Volumes
    ("Volume.name", H("")),
    ("Volume.host", H("a bind mount of the node's path; without sourcePath, scratch space that lives with the task")),
    ("Volume.dockerVolumeConfiguration", H("the local driver with task scope: a directory that lives with the task")),
    ("Volume.efsVolumeConfiguration", R("Gantry has no Amazon EFS")),
    ("Volume.s3filesVolumeConfiguration", R(NO_S3)),
    ("Volume.fsxWindowsFileServerVolumeConfiguration", R("Gantry has no FSx for Windows File Server and runs no Windows containers")),
    ("Volume.configuredAtLaunch", R(NO_EBS)),
    ("HostVolumeProperties.sourcePath", H("")),
    ("DockerVolumeConfiguration.scope", Only(&["task"], "a shared volume outlives its task, which Gantry's volumes do not yet")),
    ("DockerVolumeConfiguration.autoprovision", S("used only with scope shared")),
    ("DockerVolumeConfiguration.driver", Only(&["local"], "Gantry has no Docker volume plugins")),
    ("DockerVolumeConfiguration.driverOpts", R("the agent mounts no devices or network file systems for a volume")),
    ("DockerVolumeConfiguration.labels", S("Docker volume metadata; nothing on the node reads it")),
    // CreateService and UpdateService
    ("CreateServiceRequest.cluster", H("")),
    ("CreateServiceRequest.serviceName", H("")),
    ("CreateServiceRequest.taskDefinition", H("")),
    ("CreateServiceRequest.availabilityZoneRebalancing", S("Gantry has no Availability Zones, so there is nothing to rebalance")),
    ("CreateServiceRequest.loadBalancers", R(NO_ELB)),
    ("CreateServiceRequest.serviceRegistries", R(NO_CLOUD_MAP)),
    ("CreateServiceRequest.desiredCount", H("")),
    ("CreateServiceRequest.clientToken", R("Gantry keeps no idempotency tokens for CreateService")),
    ("CreateServiceRequest.launchType", H("EC2 and EXTERNAL")),
    ("CreateServiceRequest.capacityProviderStrategy", H(CAPACITY_PROVIDERS)),
    ("CreateServiceRequest.platformVersion", R(NO_FARGATE)),
    ("CreateServiceRequest.role", R(NO_ELB)),
    ("CreateServiceRequest.deploymentConfiguration", H("")),
    ("CreateServiceRequest.placementConstraints", H("REPLICA placement")),
    ("CreateServiceRequest.placementStrategy", H("")),
    ("CreateServiceRequest.networkConfiguration", S(AWSVPC_INFO)),
    ("CreateServiceRequest.healthCheckGracePeriodSeconds", H("")),
    ("CreateServiceRequest.schedulingStrategy", H("REPLICA and DAEMON")),
    ("CreateServiceRequest.deploymentController", H("")),
    ("CreateServiceRequest.tags", H("")),
    ("CreateServiceRequest.enableECSManagedTags", Only(&["false"], NO_MANAGED_TAGS)),
    ("CreateServiceRequest.propagateTags", Only(&["NONE"], NO_PROPAGATION)),
    ("CreateServiceRequest.enableExecuteCommand", Only(&["false"], NO_EXEC)),
    ("CreateServiceRequest.serviceConnectConfiguration", R(NO_CLOUD_MAP)),
    ("CreateServiceRequest.volumeConfigurations", R(NO_EBS)),
    ("CreateServiceRequest.vpcLatticeConfigurations", R("Gantry has no VPC Lattice")),
    ("CreateServiceRequest.gatewayConnectors", R("Gantry has no ECS gateways")),
    ("CreateServiceRequest.monitoring", R("Gantry has no CloudWatch metrics")),
    ("UpdateServiceRequest.cluster", H("")),
    ("UpdateServiceRequest.service", H("")),
    ("UpdateServiceRequest.desiredCount", H("")),
    ("UpdateServiceRequest.taskDefinition", H("")),
    ("UpdateServiceRequest.capacityProviderStrategy", H(CAPACITY_PROVIDERS)),
    ("UpdateServiceRequest.deploymentConfiguration", H("")),
    ("UpdateServiceRequest.availabilityZoneRebalancing", S("Gantry has no Availability Zones, so there is nothing to rebalance")),
    ("UpdateServiceRequest.networkConfiguration", S(AWSVPC_INFO)),
    ("UpdateServiceRequest.placementConstraints", H("")),
    ("UpdateServiceRequest.placementStrategy", H("")),
    ("UpdateServiceRequest.platformVersion", R(NO_FARGATE)),
    ("UpdateServiceRequest.forceNewDeployment", H("")),
    ("UpdateServiceRequest.healthCheckGracePeriodSeconds", H("")),
    ("UpdateServiceRequest.deploymentController", H("")),
    ("UpdateServiceRequest.enableExecuteCommand", Only(&["false"], NO_EXEC)),
    ("UpdateServiceRequest.enableECSManagedTags", Only(&["false"], NO_MANAGED_TAGS)),
    ("UpdateServiceRequest.loadBalancers", R(NO_ELB)),
    ("UpdateServiceRequest.propagateTags", Only(&["NONE"], NO_PROPAGATION)),
    ("UpdateServiceRequest.serviceRegistries", R(NO_CLOUD_MAP)),
    ("UpdateServiceRequest.serviceConnectConfiguration", R(NO_CLOUD_MAP)),
    ("UpdateServiceRequest.volumeConfigurations", R(NO_EBS)),
    ("UpdateServiceRequest.vpcLatticeConfigurations", R("Gantry has no VPC Lattice")),
    ("UpdateServiceRequest.gatewayConnectors", R("Gantry has no ECS gateways")),
    ("UpdateServiceRequest.monitoring", R("Gantry has no CloudWatch metrics")),
    ("DeploymentConfiguration.deploymentCircuitBreaker", H("")),
    ("DeploymentConfiguration.maximumPercent", H("")),
    ("DeploymentConfiguration.minimumHealthyPercent", H("")),
    ("DeploymentConfiguration.alarms", S("shown in the service and its deployments; Gantry has no CloudWatch alarms to watch, so enable must be false")),
    ("DeploymentAlarms.alarmNames", S("Gantry has no CloudWatch alarms to watch")),
    ("DeploymentAlarms.rollback", S("Gantry has no CloudWatch alarms to watch")),
    ("DeploymentAlarms.enable", Only(&["false"], "Gantry has no CloudWatch alarms to watch")),
    ("DeploymentConfiguration.strategy", H("ROLLING; other strategies are refused")),
    ("DeploymentConfiguration.bakeTimeInMinutes", S("shown in the service; on ECS it matters only to BLUE_GREEN deployments, which wait for the load-balancer work")),
    ("DeploymentConfiguration.lifecycleHooks", R("Gantry runs no deployment lifecycle hooks")),
    ("DeploymentConfiguration.linearConfiguration", R("Gantry runs rolling deployments only")),
    ("DeploymentConfiguration.canaryConfiguration", R("Gantry runs rolling deployments only")),
    ("DeploymentConfiguration.earlySuccessCriteria", R("Gantry runs rolling deployments only")),
    ("DeploymentCircuitBreaker.enable", H("")),
    ("DeploymentCircuitBreaker.rollback", H("")),
    ("DeploymentCircuitBreaker.resetOnHealthyTask", R("Gantry's circuit breaker counts failures as ECS's default does")),
    ("DeploymentCircuitBreaker.thresholdConfiguration", R("Gantry's circuit breaker uses ECS's default threshold")),
    ("DeploymentController.type", Only(&["ECS"], "Gantry runs ECS rolling deployments only")),
    ("PlacementConstraint.type", H("distinctInstance, memberOf")),
    ("PlacementConstraint.expression", H("")),
    ("PlacementStrategy.type", H("binpack, spread, random")),
    ("PlacementStrategy.field", H("")),
    ("NetworkConfiguration.awsvpcConfiguration", S(AWSVPC_INFO)),
    ("AwsVpcConfiguration.subnets", S(AWSVPC_INFO)),
    ("AwsVpcConfiguration.securityGroups", S(AWSVPC_INFO)),
    ("AwsVpcConfiguration.assignPublicIp", S(AWSVPC_INFO)),
    ("CapacityProviderStrategyItem.capacityProvider", H("")),
    ("CapacityProviderStrategyItem.weight", H("")),
    ("CapacityProviderStrategyItem.base", H("")),
    // RunTask and StartTask
    ("RunTaskRequest.capacityProviderStrategy", H(CAPACITY_PROVIDERS)),
    ("RunTaskRequest.cluster", H("")),
    ("RunTaskRequest.count", H("")),
    ("RunTaskRequest.enableECSManagedTags", Only(&["false"], NO_MANAGED_TAGS)),
    ("RunTaskRequest.enableExecuteCommand", Only(&["false"], NO_EXEC)),
    ("RunTaskRequest.group", H("")),
    ("RunTaskRequest.launchType", H("EC2 and EXTERNAL")),
    ("RunTaskRequest.networkConfiguration", S(AWSVPC_INFO)),
    ("RunTaskRequest.overrides", H("")),
    ("RunTaskRequest.placementConstraints", H("")),
    ("RunTaskRequest.placementStrategy", H("")),
    ("RunTaskRequest.platformVersion", R(NO_FARGATE)),
    ("RunTaskRequest.propagateTags", Only(&["NONE"], NO_PROPAGATION)),
    ("RunTaskRequest.referenceId", R(NO_REFERENCE)),
    ("RunTaskRequest.startedBy", H("")),
    ("RunTaskRequest.tags", H("")),
    ("RunTaskRequest.taskDefinition", H("")),
    ("RunTaskRequest.clientToken", S("the SDKs fill it in on every call; Gantry does not yet recognise a retried RunTask by it")),
    ("RunTaskRequest.volumeConfigurations", R(NO_EBS)),
    ("StartTaskRequest.cluster", H("")),
    ("StartTaskRequest.containerInstances", H("")),
    ("StartTaskRequest.enableECSManagedTags", Only(&["false"], NO_MANAGED_TAGS)),
    ("StartTaskRequest.enableExecuteCommand", Only(&["false"], NO_EXEC)),
    ("StartTaskRequest.group", H("")),
    ("StartTaskRequest.networkConfiguration", S(AWSVPC_INFO)),
    ("StartTaskRequest.overrides", H("")),
    ("StartTaskRequest.propagateTags", Only(&["NONE"], NO_PROPAGATION)),
    ("StartTaskRequest.referenceId", R(NO_REFERENCE)),
    ("StartTaskRequest.startedBy", H("")),
    ("StartTaskRequest.tags", H("")),
    ("StartTaskRequest.taskDefinition", H("")),
    ("StartTaskRequest.volumeConfigurations", R(NO_EBS)),
    ("TaskOverride.containerOverrides", H("")),
    ("TaskOverride.cpu", H("")),
    ("TaskOverride.inferenceAcceleratorOverrides", R(NO_GPU)),
    ("TaskOverride.executionRoleArn", R("the task definition's executionRoleArn is the one the agent uses")),
    ("TaskOverride.memory", H("")),
    ("TaskOverride.taskRoleArn", R(NO_TASK_ROLE)),
    ("TaskOverride.ephemeralStorage", R(NO_FARGATE)),
    ("ContainerOverride.name", H("")),
    ("ContainerOverride.command", H("")),
    ("ContainerOverride.environment", H("")),
    ("ContainerOverride.environmentFiles", R(NO_S3)),
    ("ContainerOverride.cpu", H("")),
    ("ContainerOverride.memory", H("")),
    ("ContainerOverride.memoryReservation", H("")),
    ("ContainerOverride.resourceRequirements", R(NO_GPU)),
];

/// The decision for `Shape.member`.
pub fn decision(key: &str) -> Option<Decision> {
    MEMBERS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}

/// One member reached from a root: `Shape.member`, the request path of the first place it
/// was reached (`RegisterTaskDefinition.containerDefinitions[].image`), and its decision.
#[derive(Debug, Clone)]
pub struct Reached {
    pub key: String,
    pub path: String,
    pub decision: Option<Decision>,
}

/// Every member reached from [`ROOTS`] through members that are not refused, in model
/// order, each once.
pub fn reached() -> Vec<Reached> {
    let mut out = Vec::new();
    for (op, root) in ROOTS {
        walk_model(root, op.to_string(), &mut out, &mut Vec::new());
    }
    out
}

fn walk_model(shape_name: &str, path: String, out: &mut Vec<Reached>, stack: &mut Vec<String>) {
    let Some(s) = shape(shape_name) else { return };
    match &s.kind {
        ShapeKind::Structure { members, .. } => {
            if stack.iter().any(|n| n == shape_name) {
                return;
            }
            stack.push(shape_name.to_string());
            for (m, ms) in *members {
                let key = format!("{shape_name}.{m}");
                let d = decision(&key);
                let p = format!("{path}.{m}");
                if !out.iter().any(|r| r.key == key) {
                    out.push(Reached {
                        key: key.clone(),
                        path: p.clone(),
                        decision: d,
                    });
                }
                if !matches!(d, Some(Decision::Refused(_)) | None) {
                    walk_model(ms, p, out, stack);
                }
            }
            stack.pop();
        }
        ShapeKind::List { member, .. } => walk_model(member, format!("{path}[]"), out, stack),
        ShapeKind::Map { value } => walk_model(value, format!("{path}{{}}"), out, stack),
        _ => {}
    }
}

/// Refuses a request to `op` that gives a member Gantry refuses, or a value it honours
/// only in part. Members that are absent, null or empty are not given.
pub fn check(op: &str, body: &Value) -> Result<()> {
    let Some((_, root)) = ROOTS.iter().find(|(o, _)| *o == op) else {
        return Ok(());
    };
    let kind = if op == "RegisterTaskDefinition" {
        ErrorKind::Client
    } else {
        ErrorKind::InvalidParameter
    };
    walk_value(root, body, "").map_err(|m| Error::Api(ApiError::new(kind, m)))
}

fn given(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn walk_value(shape_name: &str, v: &Value, path: &str) -> std::result::Result<(), String> {
    let Some(s) = shape(shape_name) else {
        return Ok(());
    };
    match (&s.kind, v) {
        (ShapeKind::Structure { members, .. }, Value::Object(obj)) => {
            for (m, ms) in *members {
                let Some(mv) = obj.get(*m).filter(|mv| given(mv)) else {
                    continue;
                };
                let p = join(path, m);
                match decision(&format!("{shape_name}.{m}")) {
                    None => return Err(format!("{p} is not supported by Gantry yet.")),
                    Some(Decision::Refused(why)) => {
                        return Err(format!("{p} is not supported: {why}."))
                    }
                    Some(Decision::Only(allowed, why)) => {
                        let items: Vec<&Value> = match mv {
                            Value::Array(a) => a.iter().collect(),
                            other => vec![other],
                        };
                        for item in items {
                            if let Some(x) = scalar(item) {
                                if !allowed.contains(&x.as_str()) {
                                    return Err(format!(
                                        "{p} {x} is not supported: {why}; use {}.",
                                        allowed.join(" or ")
                                    ));
                                }
                            }
                        }
                        walk_value(ms, mv, &p)?;
                    }
                    Some(_) => walk_value(ms, mv, &p)?,
                }
            }
            Ok(())
        }
        (ShapeKind::List { member, .. }, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(member, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (ShapeKind::Map { value }, Value::Object(obj)) => {
            for (k, item) in obj {
                walk_value(value, item, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(op: &str, body: Value) -> String {
        match check(op, &body) {
            Err(Error::Api(e)) => e.message,
            other => panic!("{body} was not refused: {other:?}"),
        }
    }

    #[test]
    fn every_reached_member_is_decided_and_every_decision_is_reached() {
        let reached = reached();
        let undecided: Vec<&str> = reached
            .iter()
            .filter(|r| r.decision.is_none())
            .map(|r| r.path.as_str())
            .collect();
        assert!(
            undecided.is_empty(),
            "members without a decision: {undecided:?}"
        );
        for (k, _) in MEMBERS {
            assert!(
                reached.iter().any(|r| r.key == *k),
                "{k} is decided but not reached"
            );
        }
    }

    #[test]
    fn a_refused_member_is_named_with_its_path() {
        let m = refused(
            "RegisterTaskDefinition",
            json!({"family": "f", "containerDefinitions": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox", "linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}}
            ]}),
        );
        assert_eq!(
            m,
            "containerDefinitions[1].linuxParameters.devices is not supported: the agent maps no host devices into containers."
        );
    }

    #[test]
    fn only_some_values_are_honoured() {
        let m = refused(
            "RegisterTaskDefinition",
            json!({"family": "f", "containerDefinitions": [],
                   "volumes": [{"name": "v", "dockerVolumeConfiguration": {"driver": "rexray/ebs"}}]}),
        );
        assert_eq!(
            m,
            "volumes[0].dockerVolumeConfiguration.driver rexray/ebs is not supported: Gantry has no Docker volume plugins; use local."
        );
        let ok = json!({"family": "f", "volumes": [{"name": "v", "dockerVolumeConfiguration": {"driver": "local", "scope": "task", "labels": {"a": "b"}}}]});
        assert!(check("RegisterTaskDefinition", &ok).is_ok());
        let m = refused(
            "RunTask",
            json!({"taskDefinition": "t", "enableExecuteCommand": true}),
        );
        assert_eq!(
            m,
            "enableExecuteCommand true is not supported: Gantry has no ECS Exec; use false."
        );
    }

    #[test]
    fn absent_null_and_empty_members_are_not_given() {
        let body = json!({"serviceName": "s", "loadBalancers": [], "serviceRegistries": null,
                          "enableExecuteCommand": false, "propagateTags": "NONE"});
        assert!(check("CreateService", &body).is_ok());
        let m = refused(
            "CreateService",
            json!({"loadBalancers": [{"containerName": "a"}]}),
        );
        assert_eq!(
            m,
            "loadBalancers is not supported: Gantry has no Elastic Load Balancing."
        );
        // Operations without decided members are not checked.
        assert!(check("ListClusters", &json!({"anything": 1})).is_ok());
    }
}
