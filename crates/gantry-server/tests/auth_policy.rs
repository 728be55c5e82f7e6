//! Authorization as the gate does it, for a non-administrator: the ECS operation's accesses
//! (`gantry_server::ecs::authz`, read against the real store) evaluated over IAM policies
//! with the request's global keys. Until IAM users exist in the store, the caller is built
//! here; the evaluation and the mapping are the server's own.

mod common;

use common::Server;
use gantry_aws::policy::Policy;
use gantry_server::auth::authorize::decide;
use gantry_server::auth::{iam_actions, Caller, Principal, PrincipalKind};
use gantry_server::aws::query::QueryRequest;

use serde_json::{json, Value};

fn alice() -> Caller {
    Caller {
        principal: Principal {
            arn: "arn:aws:iam::123456789012:user/alice".into(),
            user_id: "AIDAALICE0000000000".into(),
            account: "123456789012".into(),
            kind: PrincipalKind::User {
                name: "alice".into(),
            },
            tags: [("team".to_string(), "web".to_string())].into(),
        }
        .into(),
        access_key_id: "AKIAALICE0000000000".into(),
        source_ip: [10, 0, 0, 7].into(),
        secure: true,
    }
}

fn policy(doc: Value) -> Policy {
    Policy::parse(&doc.to_string()).unwrap()
}

async fn check(s: &Server, policies: &[Policy], op: &str, body: Value) -> Result<(), String> {
    let tags = gantry_server::auth::authorize::mention_resource_tags(policies);
    let acc = gantry_server::auth::ecs_accesses(&s.state, op, &body, tags)
        .await
        .unwrap();
    decide(policies, &alice(), s.state.clock.now(), &acc).map_err(|d| d.message())
}

#[tokio::test]
async fn run_task_is_on_the_task_definition_with_the_cluster_condition() {
    let s = Server::start().await;
    s.register_taskdef("web", 128, 128).await;
    let acc = gantry_server::auth::ecs_accesses(
        &s.state,
        "RunTask",
        &json!({"cluster": "prod", "taskDefinition": "web"}),
        true,
    )
    .await
    .unwrap();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].action, "ecs:RunTask");
    assert_eq!(
        acc[0].resource,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
    );
    assert_eq!(
        acc[0].keys["ecs:cluster"],
        ["arn:aws:ecs:us-east-1:123456789012:cluster/prod"]
    );

    let only_prod = policy(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecs:RunTask", "Resource": "arn:aws:ecs:*:*:task-definition/web:*",
        "Condition": {"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}}
    }]}));
    let body = |c: &str| json!({"cluster": c, "taskDefinition": "web:1"});
    assert_eq!(
        check(
            &s,
            std::slice::from_ref(&only_prod),
            "RunTask",
            body("prod")
        )
        .await,
        Ok(())
    );
    assert_eq!(
        check(&s, std::slice::from_ref(&only_prod), "RunTask", body("dev")).await,
        Err("User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/web:1 because no identity-based policy allows the ecs:RunTask action".into())
    );
    let deny = policy(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecs:RunTask", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    ]}));
    let err = check(&s, &[only_prod, deny], "RunTask", body("prod"))
        .await
        .unwrap_err();
    assert!(
        err.ends_with("task-definition/web:1 with an explicit deny in an identity-based policy"),
        "{err}"
    );
}

#[tokio::test]
async fn list_operations_are_on_star_and_describes_on_each_resource() {
    let s = Server::start().await;
    let acc = gantry_server::auth::ecs_accesses(&s.state, "ListClusters", &json!({}), true)
        .await
        .unwrap();
    assert_eq!(
        (acc[0].action.as_str(), acc[0].resource.as_str()),
        ("ecs:ListClusters", "*")
    );
    let acc = gantry_server::auth::ecs_accesses(
        &s.state,
        "DescribeTasks",
        &json!({"cluster": "c", "tasks": ["t1", "arn:aws:ecs:us-east-1:123456789012:task/c/t2"]}),
        true,
    )
    .await
    .unwrap();
    let res: Vec<_> = acc.iter().map(|a| a.resource.as_str()).collect();
    assert_eq!(
        res,
        [
            "arn:aws:ecs:us-east-1:123456789012:task/c/t1",
            "arn:aws:ecs:us-east-1:123456789012:task/c/t2",
        ]
    );
    // A policy on one task only: describing both is refused on the second.
    let one = policy(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": "arn:aws:ecs:us-east-1:123456789012:task/c/t1"}]}));
    let err = check(
        &s,
        &[one],
        "DescribeTasks",
        json!({"cluster": "c", "tasks": ["t1", "t2"]}),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("on resource: arn:aws:ecs:us-east-1:123456789012:task/c/t2 because"),
        "{err}"
    );
}

#[tokio::test]
async fn tags_on_create_and_stored_tags_are_condition_keys() {
    let s = Server::start().await;
    let tagged_only = policy(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecs:CreateCluster", "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"},
                      "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}]}));
    let with = |tags: Value| json!({"clusterName": "x", "tags": tags});
    assert_eq!(
        check(
            &s,
            std::slice::from_ref(&tagged_only),
            "CreateCluster",
            with(json!([{"key": "team", "value": "web"}]))
        )
        .await,
        Ok(())
    );
    assert!(check(
        &s,
        std::slice::from_ref(&tagged_only),
        "CreateCluster",
        with(json!([{"key": "team", "value": "db"}]))
    )
    .await
    .is_err());
    assert!(check(
        &s,
        &[tagged_only],
        "CreateCluster",
        with(json!([{"key": "team", "value": "web"}, {"key": "x", "value": "y"}]))
    )
    .await
    .is_err());

    s.ok(
        "CreateCluster",
        json!({"clusterName": "web", "tags": [{"key": "team", "value": "web"}]}),
    )
    .await;
    s.ok(
        "CreateCluster",
        json!({"clusterName": "db", "tags": [{"key": "team", "value": "db"}]}),
    )
    .await;
    let by_tag = policy(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": "*",
        "Condition": {"StringEquals": {"ecs:ResourceTag/team": "web"}}}]}));
    assert_eq!(
        check(
            &s,
            std::slice::from_ref(&by_tag),
            "DescribeClusters",
            json!({"clusters": ["web"]})
        )
        .await,
        Ok(())
    );
    assert!(check(
        &s,
        &[by_tag],
        "DescribeClusters",
        json!({"clusters": ["web", "db"]})
    )
    .await
    .is_err());
}

#[tokio::test]
async fn services_carry_their_task_definition_and_iam_names_users_by_variable() {
    let s = Server::start().await;
    s.register_taskdef("api", 128, 128).await;
    let acc = gantry_server::auth::ecs_accesses(
        &s.state,
        "CreateService",
        &json!({"cluster": "prod", "serviceName": "api", "taskDefinition": "api"}),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        acc[0].resource,
        "arn:aws:ecs:us-east-1:123456789012:service/prod/api"
    );
    assert_eq!(
        acc[0].keys["ecs:task-definition"],
        ["arn:aws:ecs:us-east-1:123456789012:task-definition/api:1"]
    );

    let own_keys = policy(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iam:*AccessKey*", "iam:GetUser"],
        "Resource": "arn:aws:iam::*:user/${aws:username}"}]}));
    let iam = |body: &str| {
        let req = QueryRequest::parse(body.as_bytes()).unwrap();
        iam_actions::accesses("123456789012", "iam", &req, &alice())
    };
    let now = s.state.clock.now();
    assert_eq!(
        decide(
            std::slice::from_ref(&own_keys),
            &alice(),
            now,
            &iam("Action=CreateAccessKey&Version=2010-05-08")
        ),
        Ok(())
    );
    assert!(decide(
        std::slice::from_ref(&own_keys),
        &alice(),
        now,
        &iam("Action=CreateAccessKey&Version=2010-05-08&UserName=bob")
    )
    .is_err());
    assert!(decide(
        &[own_keys],
        &alice(),
        now,
        &iam("Action=CreateUser&Version=2010-05-08&UserName=alice")
    )
    .is_err());
}
