//! `docs/api-coverage.md` lists every operation of the ECS service model with its status, and
//! must agree with what the server dispatches. Regenerate with
//! `GANTRY_UPDATE_DOCS=1 cargo test -p gantry-server --test api_coverage`.

use gantry_api::ecs::OPERATIONS;
use gantry_server::members::{self, Decision};
use gantry_server::IMPLEMENTED;

/// Operations that work but leave out part of what ECS does, and what.
const PARTIAL: &[(&str, &str)] = &[
    ("RunTask", "EC2 and EXTERNAL launch types (EXTERNAL tasks only on instances joined with an SSM activation, EC2 tasks never there; awsvpc with EXTERNAL is refused as ECS Anywhere refuses it); capacityProviderStrategy (or, with neither it nor launchType, the cluster's default strategy) splits the tasks over EC2-style providers by base then weight, each share placed only on its provider's instances and shown as capacityProviderName (docs/capacity-providers.md; FARGATE and FARGATE_SPOT are refused until Fargate comes); placementConstraints (distinctInstance, memberOf) and the task definition's memberOf constraints apply; awsvpc networkConfiguration is accepted but informational (the task's address comes from its node's task subnet, shown as an ElasticNetworkInterface attachment)"),
    ("StartTask", "as RunTask; StartTask has no placementConstraints and names its instances, so the task definition's constraints are not checked there; each task takes its instance's launch type"),
    ("CreateService", "EC2 and EXTERNAL launch types (as RunTask; a DAEMON service runs on the instances of its launch type) and the ECS (rolling) deployment controller only; REPLICA and DAEMON; capacityProviderStrategy as RunTask (the cluster's default strategy is copied onto a service that names neither it nor a launch type; DAEMON services refuse strategies, as ECS); load balancers and service registries are refused with a clear error; placementConstraints apply to REPLICA placement (not yet to DAEMON); awsvpc networkConfiguration is accepted but informational; tags are not propagated to tasks"),
    ("UpdateService", "as CreateService: desiredCount, taskDefinition, forceNewDeployment, deploymentConfiguration (strategy ROLLING only; alarms stored but only disabled, no CloudWatch; bakeTimeInMinutes stored; lifecycleHooks, linear and canary configurations, earlySuccessCriteria and the circuit breaker's resetOnHealthyTask and thresholdConfiguration refused), placementStrategy, placementConstraints, healthCheckGracePeriodSeconds, capacityProviderStrategy (a change needs forceNewDeployment, as ECS; an empty list goes back to the EC2 launch type)"),
    ("DeleteService", "DRAINING until its tasks are stopped, then INACTIVE; an INACTIVE name can be created again"),
    ("ListContainerInstances", "the `filter` cluster query language is applied (a parse error names its position)"),
    ("RegisterTaskDefinition", "`requiresAttributes` is not computed"),
    ("CreateCluster", "settings (containerInsights, defaulting to the caller's effective account setting), configuration and serviceConnectDefaults are stored and shown (Gantry has no ECS Exec, managed storage or Cloud Map, so they change nothing on the nodes); capacity providers must exist (FARGATE and FARGATE_SPOT are refused until Fargate comes)"),
    ("UpdateCluster", "as CreateCluster: settings merge by name, configuration replaces, an empty serviceConnectDefaults namespace removes it; the namespace is stored as given (no Cloud Map)"),
    ("PutClusterCapacityProviders", "providers must exist (see CreateCapacityProvider); the default strategy is stored and shown, and RunTask and CreateService use it when they name neither a launch type nor a strategy"),
    ("PutAccountSetting", "per user, role (an assumed role's session uses its role) or the root; Gantry's bootstrap administrator `admin` stands in for the root (to name another principal, and for fargateTaskRetirementWaitPeriod); long-ARN settings cannot be disabled (Gantry always uses long ARNs); tagResourceAuthorization is enforced; containerInsights is the default of new clusters' setting; the Fargate, awsvpcTrunking, defaultLogDriverMode and guardDutyActivate settings are stored and shown only"),
    ("CreateCapacityProvider", "EC2-style only: the group is the instances with attribute gantry.capacity-provider=<name> (docs/capacity-providers.md); managedScaling and the rest are stored and shown with ECS's defaults, and the managed-scaling target (CapacityProviderReservation and the desired group size) is reported by Gantry's DescribeCapacityProviderScaling / `gantry capacity-provider scaling` for an operator's autoscaler; managedInstancesProvider is refused (UnsupportedFeatureException); names starting with aws, ecs or fargate (FARGATE, FARGATE_SPOT) are refused"),
    ("UpdateCapacityProvider", "as CreateCapacityProvider"),
    ("DeleteCapacityProvider", "refused while a cluster uses it; INACTIVE afterwards"),
    ("ListServiceDeployments", "ROLLING deployments of the ECS deployment controller; filters by status and createdAt, newest first, 20 a page by default; the history of a service deleted and created again starts anew"),
    ("DescribeServiceDeployments", "circuit breaker status, failure count and threshold; alarms are always DISABLED (no CloudWatch); no lifecycleStage (BLUE_GREEN only)"),
    ("DescribeServiceRevisions", "taskDefinition, launchType and container images (without digests); no networkConfiguration, load balancers or capacity provider strategy"),
    ("StopServiceDeployment", "stopType ROLLBACK only (the default): the deployment in progress goes back to the last completed revision; ABORT is refused"),
    ("ListAccountSettings", "effectiveSettings resolves principal, then account default (the root's), then ECS's default; pages of at most 10"),
    // ops13
    ("DeleteTaskDefinitions", "INACTIVE revisions only (an ACTIVE one, an unknown one and a reference without a revision are `failures` with ECS's reasons); at most 10 a call; DELETE_IN_PROGRESS at once, removed (with its tags) by the stopped-task sweep once no live task and no ACTIVE or DRAINING service deployment uses it; the family keeps counting revisions"),
    ("GetTaskProtection", "service tasks only (a standalone task is a TASK_NOT_VALID failure, an unknown one MISSING); an expired protection reads protectionEnabled false"),
    ("UpdateTaskProtection", "as GetTaskProtection; expiresInMinutes 1–2880, default 120, reset by every call; the service controller does not stop a protected task to scale in or to replace an older deployment until it expires (it still replaces unhealthy tasks and stops all of a deleted service)"),
    ("DiscoverPollEndpoint", "endpoint, telemetryEndpoint and serviceConnectEndpoint are all the server's own URL as the request reached it: Gantry's agent gateway serves the session and telemetry on the one listener"),
    ("ListServicesByNamespace", "no Cloud Map: a namespace some ACTIVE cluster names in serviceConnectDefaults lists no services (no service can use Service Connect); any other is NamespaceNotFoundException"),
    ("UpdateContainerAgent", "a Gantry agent is updated with the gantry binary on its host, never by the control plane: NoUpdateAvailableException \"There is no update available for your container agent.\" for an instance of the cluster"),
    ("ExecuteCommand", "no SSM Session Manager, so no task runs with execute command enabled: InvalidParameterException with ECS's text for such a task (\"The execute command failed because execute command was not enabled when the task was run…\")"),
    ("RegisterContainerInstance", "agents register over the agent gateway with their node credential (docs/security.md, Node identity); on the ECS API every IAM principal is refused with AccessDeniedException, the administrator included"),
    ("SubmitTaskStateChange", "as RegisterContainerInstance: agents report over the gateway's session, with their node credential"),
    ("SubmitContainerStateChange", "as SubmitTaskStateChange"),
    ("SubmitAttachmentStateChanges", "as SubmitTaskStateChange"),
];

/// Why each refused group is refused (see `ECS_REFUSED`), by the first operation of the group.
const REFUSED_GROUPS: &[(&str, &str)] = &[
    ("Daemon", "ECS daemons (daemon task definitions, deployments and revisions) are a feature of ECS Managed Instances, capacity AWS runs; Gantry runs DAEMON services on the instances you register instead"),
    ("ExpressGatewayService", "Express Mode services come with an AWS-managed Application Load Balancer, certificate and auto scaling, none of which Gantry has"),
    ("Gateway", "ECS gateways and their routes are AWS-managed ingress in front of services; Gantry has no load balancers yet"),
];

fn render() -> String {
    let mut out = String::from(
        "# ECS API coverage\n\n\
         Every operation of the ECS service model (`botocore/data/ecs/2014-11-13/service-2.json`),\n\
         and whether Gantry implements it. Generated by `crates/gantry-server/tests/api_coverage.rs`,\n\
         which fails when this page and the server's dispatch table disagree.\n\n\
         An operation that is not implemented answers `ClientException` \"Gantry does not implement\n\
         <Operation> yet.\"; a name that is not in the model answers `UnknownOperationException`.\n\n\
         A `refused` operation is answered as ECS answers an operation a Region does not offer:\n\
         \"This operation isn't supported in this Region.\", as `UnsupportedFeatureException` where\n\
         its model lists that exception, else `ClientException` (after validation and\n\
         authorization, as every request); the note says why the feature is not offered.\n\n\
         | operation | status | notes |\n| --- | --- | --- |\n",
    );
    let (mut done, mut partial, mut refused) = (0, 0, 0);
    for op in OPERATIONS {
        let (status, note) = if gantry_server::ECS_REFUSED
            .iter()
            .any(|(n, _)| *n == op.name)
        {
            refused += 1;
            let why = REFUSED_GROUPS
                .iter()
                .filter(|(group, _)| op.name.contains(group))
                .max_by_key(|(group, _)| group.len())
                .map_or("", |(_, why)| *why);
            assert!(!why.is_empty(), "{} is refused without a reason", op.name);
            ("refused", why)
        } else if let Some((_, note)) = PARTIAL.iter().find(|(n, _)| *n == op.name) {
            assert!(
                IMPLEMENTED.contains(&op.name),
                "{} is listed as partial but not dispatched",
                op.name
            );
            partial += 1;
            ("partial", *note)
        } else if IMPLEMENTED.contains(&op.name) {
            done += 1;
            ("done", "")
        } else {
            ("not yet", "")
        };
        out.push_str(&format!("| {} | {status} | {note} |\n", op.name));
    }
    out.push_str(&format!(
        "\n{done} done, {partial} partial, {refused} refused, {} not yet, of {} operations.\n",
        OPERATIONS.len() - done - partial - refused,
        OPERATIONS.len()
    ));
    out.push_str(ECS_TEXTS);
    out.push_str(&render_members());
    out.push_str(SSM);
    for op in gantry_server::ssm::IMPLEMENTED {
        let note = SSM_NOTES
            .iter()
            .find(|(n, _)| n == op)
            .map_or("", |(_, n)| *n);
        out.push_str(&format!("| {op} | done | {note} |\n"));
    }
    out.push_str(SECRETS_MANAGER);
    let mut ops: Vec<&str> = gantry_server::secretsmanager::IMPLEMENTED
        .iter()
        .chain(gantry_server::secretsmanager::NOT_IMPLEMENTED)
        .copied()
        .collect();
    ops.sort_unstable();
    for op in ops {
        let status = if gantry_server::secretsmanager::IMPLEMENTED.contains(&op) {
            "done"
        } else {
            "not yet"
        };
        let note = SM_NOTES
            .iter()
            .find(|(n, _)| *n == op)
            .map_or("", |(_, n)| *n);
        out.push_str(&format!("| {op} | {status} | {note} |\n"));
    }
    out
}

/// Which ECS error texts are ECS's own and which are Gantry's (`tests/ecs_texts.rs`).
const ECS_TEXTS: &str = "\n## Texts\n\n\
    ECS's own words, as AWS's examples, the SDKs' and deploy tools' issue trackers and moto's\n\
    ECS model record them (`crates/gantry-server/tests/ecs_texts.rs` checks those of the task\n\
    definition, cluster and service lookups and RegisterTaskDefinition):\n\
    `ClusterNotFoundException` \"Cluster not found.\"; `ServiceNotFoundException` \"Service not\n\
    found.\"; `ServiceNotActiveException` \"Service was not ACTIVE.\"; DescribeTaskDefinition and\n\
    DeregisterTaskDefinition of an unknown one, `ClientException` \"Unable to describe task\n\
    definition.\"; DeregisterTaskDefinition without a revision \"Revision is missing.\", with one\n\
    that is not a number `InvalidParameterException` \"Invalid revision number. Number: <rev>\";\n\
    RegisterTaskDefinition (`ClientException`): \"Family can not be blank.\", \"Family contains\n\
    invalid characters.\", \"Container list cannot be empty.\", \"Container.name should not be\n\
    null or empty.\", \"Container.name contains invalid characters.\", \"Container.image should\n\
    not be null or empty.\", \"Container names must be unique within a Task Definition.\",\n\
    \"Invalid setting for container '<name>'. At least one of 'memory' or 'memoryReservation'\n\
    must be specified.\", \"The 'memory' setting for container '<name>' is greater than for the\n\
    task.\", \"The sum of all container 'memoryReservation' values cannot be greater than the\n\
    value of the task 'memory'.\", \"The sum of all container 'cpu' values cannot be greater than\n\
    the value of the task 'cpu'.\", \"When networkMode=awsvpc, the host ports and container ports\n\
    in port mappings must match.\" (host mode by the same pattern), \"A dependency container with\n\
    SUCCESS or COMPLETE condition cannot be an essential container\" (no full stop, as ECS sends\n\
    it); DeleteService of a service scaled above 0 \"The service cannot be stopped while it is\n\
    scaled above 0.\"; a CreateService of a name in use \"Creation of service was not\n\
    idempotent.\". The `gantry` CLI adds what to do after these (e.g. which command lists the\n\
    clusters). Gantry's own, where ECS's could not be found: the other RegisterTaskDefinition\n\
    checks (image reference grammar, container cpu and memory bounds, memoryReservation above\n\
    memory, the sum of container memory above the task's, task cpu and memory sizes, port\n\
    mapping ranges and duplicates, dependsOn targets, cycles and HEALTHY without a healthCheck,\n\
    startTimeout, no essential container, log drivers and awslogs options,\n\
    requiresCompatibilities FARGATE), RunTask's and StartTask's texts other than Cluster not\n\
    found (count, no instances, an unknown task definition), the service settings (desiredCount,\n\
    percentages, placement, grace period) and the refusals of members (next section). A\n\
    cluster created without tags shows `\"tags\": []`, as the AWS CLI's own create-cluster\n\
    example does; DescribeClusters shows tags only when `include` asks for TAGS. A registered\n\
    container definition shows what ECS fills in: `essential` true, `cpu` 0, empty\n\
    `portMappings`, `environment`, `mountPoints` and `volumesFrom`, a port mapping's `protocol`\n\
    tcp; those empty lists are not \"given\", so a described task definition registers again\n\
    as it is.\n";

/// The members section: what Gantry does with every member of the requests that describe
/// work for the nodes (`crates/gantry-server/src/ecs/members.rs`).
fn render_members() -> String {
    let mut out = String::from(
        "\n## Members of task definitions, services and tasks\n\n\
         What Gantry does with every member of RegisterTaskDefinition (the TaskDefinition,\n\
         ContainerDefinition and volume shapes), CreateService, UpdateService, RunTask and\n\
         StartTask, walked from the service model; a member under a refused one needs no\n\
         decision of its own. *honoured*: done on the node or in the control plane as ECS does\n\
         it; *only …*: those values are honoured, any other is refused; *stored only*: kept and\n\
         shown, with no effect; *refused*: a request that gives it (not null, not empty) is\n\
         refused before anything changes, `ClientException` for RegisterTaskDefinition and\n\
         `InvalidParameterException` for the others, \"<path> is not supported: <why>.\" (for a\n\
         value: \"<path> <value> is not supported: <why>; use <values>.\"), the path as the\n\
         request has it, e.g. `containerDefinitions[1].linuxParameters.devices`. The table is\n\
         `crates/gantry-server/src/ecs/members.rs`; a member the model gains fails the build's\n\
         tests until it is decided.\n\n\
         | member | first reached at | status | why |\n| --- | --- | --- | --- |\n",
    );
    for r in members::reached() {
        let (status, why) = match r.decision {
            Some(Decision::Honoured(n)) => ("honoured".to_string(), n.to_string()),
            Some(Decision::Secrets) => ("honoured (secrets, issue 15)".to_string(), String::new()),
            Some(Decision::Only(values, why)) => {
                (format!("only {}", values.join(", ")), why.to_string())
            }
            Some(Decision::Stored(why)) => ("stored only".to_string(), why.to_string()),
            Some(Decision::Refused(why)) => ("refused".to_string(), why.to_string()),
            None => ("undecided".to_string(), String::new()),
        };
        out.push_str(&format!(
            "| {} | `{}` | {status} | {why} |\n",
            r.key, r.path
        ));
    }
    out
}

/// The ECS model as botocore ships it, if it is installed where install-deps puts it.
fn botocore_ecs() -> serde_json::Value {
    let lib = std::path::Path::new("/opt/gantry-venv/lib");
    let dir = std::fs::read_dir(lib)
        .expect("/opt/gantry-venv/lib (install-deps installs botocore there)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/botocore/data/ecs/2014-11-13"))
        .find(|p| p.is_dir())
        .expect("botocore's ECS model under /opt/gantry-venv/lib/python3*/site-packages");
    let gz = dir.join("service-2.json.gz");
    let text = if gz.exists() {
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("open the model")),
            &mut s,
        )
        .expect("gunzip the model");
        s
    } else {
        std::fs::read_to_string(dir.join("service-2.json")).expect("read the model")
    };
    serde_json::from_str(&text).expect("the model is JSON")
}

/// Walks botocore's own model (not the generated schema) from the decided operations'
/// inputs, recursively, and checks that every member reached has a decision, so a member
/// botocore gains cannot slip through undecided.
#[test]
fn every_member_of_the_model_is_decided() {
    let model = botocore_ecs();
    let shapes = &model["shapes"];
    fn walk(
        shapes: &serde_json::Value,
        name: &str,
        path: &str,
        seen: &mut Vec<String>,
        bad: &mut Vec<String>,
    ) {
        let s = &shapes[name];
        match s["type"].as_str() {
            Some("structure") => {
                if seen.iter().any(|n| n == name) {
                    return;
                }
                seen.push(name.to_string());
                for (m, spec) in s["members"].as_object().into_iter().flatten() {
                    let p = format!("{path}.{m}");
                    match members::decision(&format!("{name}.{m}")) {
                        None => bad.push(p),
                        Some(Decision::Refused(_)) => {}
                        Some(_) => walk(
                            shapes,
                            spec["shape"].as_str().unwrap_or_default(),
                            &p,
                            seen,
                            bad,
                        ),
                    }
                }
            }
            Some("list") => walk(
                shapes,
                s["member"]["shape"].as_str().unwrap_or_default(),
                &format!("{path}[]"),
                seen,
                bad,
            ),
            Some("map") => walk(
                shapes,
                s["value"]["shape"].as_str().unwrap_or_default(),
                &format!("{path}{{}}"),
                seen,
                bad,
            ),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    for (op, root) in members::ROOTS {
        let input = model["operations"][*op]["input"]["shape"].as_str();
        assert_eq!(input, Some(*root), "{op}'s input shape");
        walk(shapes, root, op, &mut Vec::new(), &mut bad);
    }
    assert!(
        bad.is_empty(),
        "members of botocore's ECS model without a decision in crates/gantry-server/src/ecs/members.rs: {bad:#?}"
    );
}

/// The Secrets Manager section.
const SECRETS_MANAGER: &str = "\n## Secrets Manager\n\n\
    `X-Amz-Target: secretsmanager.<Operation>`, AWS JSON 1.1, signed for `secretsmanager`,\n\
    shapes and exception names from `botocore/data/secretsmanager/2017-10-17/service-2.json`;\n\
    each operation is authorized as `secretsmanager:<Operation>` on the secret's ARN\n\
    (ListSecrets and BatchGetSecretValue on `*`, BatchGetSecretValue then GetSecretValue per\n\
    secret), and a secret's resource policy is evaluated beside the caller's identity policies\n\
    (an explicit Deny in either refuses, an Allow in either grants). Values are encrypted at\n\
    rest (docs/security.md). `KmsKeyId` is refused (Gantry has no KMS), as are replication\n\
    (`AddReplicaRegions`) and `RotationToken`.\n\n\
    | operation | status | notes |\n| --- | --- | --- |\n";

const SM_NOTES: &[(&str, &str)] = &[
    ("CreateSecret", "SecretString or SecretBinary (or neither); ARN `…:secret:<name>-<6 random characters>`; Tags, Description, Type kept"),
    ("PutSecretValue", "VersionStages default AWSCURRENT (the previous AWSCURRENT becomes AWSPREVIOUS); the same ClientRequestToken with the same value answers the same, with another value ResourceExistsException"),
    ("GetSecretValue", "by VersionId and/or VersionStage (default AWSCURRENT); SecretId as name, full ARN or partial ARN"),
    ("BatchGetSecretValue", "SecretIdList (up to 20) or Filters (paged, MaxResults 1–20); failures per secret in Errors"),
    ("ListSecrets", "Filters name, description, tag-key, tag-value, all (`!` negates; primary-region and owning-service match nothing); SortBy/SortOrder (default created-date, desc); IncludePlannedDeletion; MaxResults 1–100"),
    ("ListSecretVersionIds", "IncludeDeprecated; newest first; at most 100 versions are kept, the oldest unstaged dropped"),
    ("UpdateSecret", "Description, Type, a new value as a new AWSCURRENT version"),
    ("UpdateSecretVersionStage", "moving a label held by another version needs RemoveFromVersionId; moving AWSCURRENT gives the old holder AWSPREVIOUS"),
    ("DeleteSecret", "RecoveryWindowInDays 7–30 (default 30) or ForceDeleteWithoutRecovery; while scheduled, operations but DescribeSecret, ListSecrets and RestoreSecret answer InvalidRequestException"),
    ("PutResourcePolicy", "parsed as a resource-based policy (MalformedPolicyDocumentException otherwise); BlockPublicPolicy (default true) refuses a policy that allows `*`"),
];

/// The SSM section: the part of Systems Manager ECS Anywhere uses.
const SSM: &str = "\n## SSM (activations, managed instances, Parameter Store)\n\n\
    `X-Amz-Target: AmazonSSM.<Operation>`, AWS JSON 1.1, signed for `ssm`, shapes and exception\n\
    names from `botocore/data/ssm/2014-11-06/service-2.json`; each operation is authorized as\n\
    `ssm:<Operation>` (DeregisterManagedInstance and the tagging operations on\n\
    `arn:aws:ssm:<region>:<account>:managed-instance/<mi-id>`, the Parameter Store operations on\n\
    `arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>` (GetParametersByPath\n\
    on the path's, DescribeParameters on `*`), the others on `*`). SecureString values are sealed\n\
    at rest with the server's secret key (docs/security.md). The other SSM operations (Run\n\
    Command, parameter policies, ...) answer `UnknownOperationException`.\n\n\
    CreateActivation also needs `iam:PassRole` on the activation's role,\n\
    `arn:aws:iam::<account>:role/<IamRole>`, with `iam:PassedToService` = `ssm.amazonaws.com`;\n\
    without it the answer is `AccessDeniedException` (400), \"User: <arn> is not authorized to\n\
    perform: iam:PassRole on resource: <role-arn> because no identity-based policy allows the\n\
    iam:PassRole action\", audited as every refusal.\n\n\
    Texts. AWS's own: the member constraints (`ValidationException`, \"N validation error(s)\n\
    detected: Value … at '…' failed to satisfy constraint: …\", enums included, e.g.\n\
    DescribeActivations' FilterKey); a role that does not exist or does not trust\n\
    `ssm.amazonaws.com` (`ValidationException`, \"Nonexistent role or missing ssm service\n\
    principal in trust policy: <role-arn>\", as the service returns it); `InvalidActivationId`\n\
    (\"The activation ID isn't valid. Verify that you entered the correct ActivationId or\n\
    ActivationCode and try again.\", the API reference's text); `InvalidInstanceId` (\"Not\n\
    existing InstanceId mi-…\", SSM's words for an unknown managed instance); `InvalidNextToken`\n\
    (\"The specified token isn't valid.\"). Gantry's own, as AWS's could not be found: an\n\
    ExpirationDate in the past or more than 30 days ahead (`InvalidParameters`, \"ExpirationDate\n\
    <date> is in the past; give a date up to 30 days ahead.\" / \"… is more than 30 days ahead;\n\
    an activation can be valid for at most 30 days.\"); RegistrationMetadata refused\n\
    (`InvalidParameters`); the join's refusals of an activation (`InvalidActivation`: wrong code,\n\
    expired at <date>, registration limit reached; `InvalidActivationId`: deleted or never\n\
    made — SSM Agent's registration API is not public) and the node-credential refusals of the\n\
    agent gateway (docs/security.md, Node identity).\n\n\
    | operation | status | notes |\n| --- | --- | --- |\n";

const SSM_NOTES: &[(&str, &str)] = &[
    ("CreateActivation", "RegistrationLimit 1–1000 (default 1), ExpirationDate default 24 h and at most 30 days ahead; the code is stored only as its SHA-256; RegistrationMetadata is refused; IamRole (a role name, or path/name without the leading `/`) must name a role that exists and trusts ssm.amazonaws.com; gantry-external-node is made at the cluster's first start"),
    ("DescribeActivations", "filters ActivationIds, DefaultInstanceName, IamRole; MaxResults 1–50"),
    ("DescribeInstanceInformation", "managed instances registered through activations; PingStatus Online while the host's agent is connected; Filters (InstanceIds, PingStatus, ActivationIds, IamRole, ResourceType, PlatformTypes, AgentVersion, tag:<key>, tag-key) or InstanceInformationFilterList; MaxResults 5–50 (default 10)"),
    ("DeregisterManagedInstance", "revokes the host's node credential at once; the ECS container instance stays until DeregisterContainerInstance"),
    ("AddTagsToResource", "ResourceType ManagedInstance and Parameter (ResourceId the parameter's name)"),
    ("ListTagsForResource", "ResourceType ManagedInstance and Parameter"),
    ("RemoveTagsFromResource", "ResourceType ManagedInstance and Parameter"),
    ("PutParameter", "String, StringList, SecureString; Overwrite (Tags with Overwrite refused as the service does); Tier Standard (4 KB), Advanced (8 KB), Intelligent-Tiering (picks one); DataType text only; AllowedPattern matched against the whole value; KeyId only alias/aws/ssm (no KMS: another is InvalidKeyId); Policies refused; 100 versions kept (the oldest dropped unless labelled)"),
    ("GetParameter", "name, ARN, name:version and name:label; WithDecryption (without it a SecureString shows its sealed form)"),
    ("GetParameters", "up to 10 names; unknown ones in InvalidParameters"),
    ("GetParametersByPath", "Recursive; ParameterFilters Type, KeyId, Label, Tier, DataType, tag:<key>; MaxResults 1–10"),
    ("GetParameterHistory", "MaxResults 1–50"),
    ("DescribeParameters", "Filters (Name, Type, KeyId) or ParameterFilters (Name with Equals/BeginsWith/Contains, Path Recursive/OneLevel, Type, KeyId, Label, Tier, DataType, tag:<key>); Shared lists nothing (one account); MaxResults 1–50"),
    ("LabelParameterVersion", "labels move between versions; at most 10 a version; invalid labels come back in InvalidLabels"),
];

#[test]
fn api_coverage_doc_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api-coverage.md");
    let want = render();
    if std::env::var_os("GANTRY_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/api-coverage.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/api-coverage.md is out of date: run GANTRY_UPDATE_DOCS=1 cargo test -p gantry-server --test api_coverage"
    );
    for op in IMPLEMENTED {
        assert!(
            OPERATIONS.iter().any(|o| o.name == *op),
            "{op} is dispatched but not in the model"
        );
    }
}
