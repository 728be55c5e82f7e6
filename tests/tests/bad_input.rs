//! Bad input gets the ECS exception ECS gives, names what is wrong, and changes nothing.

use gantry_tests::dev::Dev;
use serde_json::{json, Value};

/// Everything a client can list, to compare before and after a rejected request.
async fn snapshot(dev: &Dev) -> Value {
    json!({
        "clusters": dev.ok("ListClusters", json!({})).await,
        "families": dev.ok("ListTaskDefinitionFamilies", json!({})).await,
        "tds": dev.ok("ListTaskDefinitions", json!({})).await,
        "tasks": dev.ok("ListTasks", json!({})).await,
        "stopped": dev.ok("ListTasks", json!({"desiredStatus": "STOPPED"})).await,
    })
}

fn td(containers: Value) -> Value {
    json!({ "family": "bad", "networkMode": "none", "containerDefinitions": containers })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_request_gets_its_exception_and_writes_nothing() {
    let dev = Dev::start().await;
    dev.register_busybox("good", &["true"], json!({})).await;
    let before = snapshot(&dev).await;
    let c = |extra: Value| {
        let mut base = json!({"name": "a", "image": "busybox:latest", "memory": 32});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "RunTask",
            json!({"cluster": "nope", "taskDefinition": "good"}),
            "ClusterNotFoundException",
            "",
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "bad"}),
            "InvalidParameterException",
            "containerDefinitions",
        ),
        (
            "RegisterTaskDefinition",
            td(json!([c(json!({"cpu": "lots"}))])),
            "ClientException",
            "cpu",
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "bad", "networkMode": "warp", "containerDefinitions": [c(json!({}))]}),
            "InvalidParameterException",
            "networkMode",
        ),
        (
            "RegisterTaskDefinition",
            td(json!([c(json!({})), c(json!({}))])),
            "ClientException",
            "name",
        ),
        (
            "RegisterTaskDefinition",
            td(json!([c(json!({"essential": false}))])),
            "ClientException",
            "essential",
        ),
        (
            "RegisterTaskDefinition",
            td(json!([c(json!({"image": "Not A Valid//Ref"}))])),
            "ClientException",
            "image",
        ),
        (
            "RegisterTaskDefinition",
            td(json!([c(json!({"memory": 2}))])),
            "ClientException",
            "memory",
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "bad", "networkMode": "none", "cpu": "999999", "containerDefinitions": [c(json!({}))]}),
            "ClientException",
            "cpu",
        ),
        (
            "RegisterTaskDefinition",
            json!({"family": "b@d!", "containerDefinitions": [c(json!({}))]}),
            "ClientException",
            "family",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "good", "count": 11}),
            "InvalidParameterException",
            "count",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "missing-family"}),
            "InvalidParameterException",
            "not found",
        ),
        (
            "StopTask",
            json!({"task": "0000"}),
            "InvalidParameterException",
            "",
        ),
        (
            "NoSuchOperation",
            json!({}),
            "UnknownOperationException",
            "",
        ),
    ];
    for (op, body, want, mentions) in cases {
        let (kind, err) = dev
            .call(op, body.clone())
            .await
            .expect_err(&format!("{op} {body} should fail"));
        assert_eq!(kind, want, "{op} {body}: {err}");
        let msg = err["message"].as_str().unwrap_or_default();
        assert!(
            !msg.is_empty(),
            "{op}: the error must say what is wrong: {err}"
        );
        assert!(
            msg.to_lowercase().contains(&mentions.to_lowercase()),
            "{op} {body}: message should name {mentions:?}: {msg}"
        );
    }

    // Malformed JSON and an oversized body, sent raw.
    let raw = |body: Vec<u8>| dev.post_raw("RegisterTaskDefinition", body);
    let r = raw(b"{\"family\": ".to_vec()).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["__type"], "ClientException", "{v}");
    let big = vec![b' '; (1 << 20) + 4096];
    let r = raw(big).await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        413,
        "an oversized body is refused before it is parsed"
    );

    assert_eq!(
        snapshot(&dev).await,
        before,
        "a rejected request changed the store"
    );
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_failures_name_the_resource() {
    let dev = Dev::start().await;
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": "huge", "networkMode": "none", "containerDefinitions": [
            {"name": "a", "image": "busybox:latest", "memory": 10_000_000, "command": ["true"]}]}),
    )
    .await;
    let out = dev.ok("RunTask", json!({"taskDefinition": "huge"})).await;
    assert!(out["tasks"].as_array().unwrap().is_empty(), "{out}");
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:MEMORY", "{out}");
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": "cpuhog", "networkMode": "none", "containerDefinitions": [
            {"name": "a", "image": "busybox:latest", "memory": 16, "cpu": 10240, "command": ["true"]}]}),
    )
    .await;
    let out = dev.ok("RunTask", json!({"taskDefinition": "cpuhog"})).await;
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:CPU", "{out}");
    assert!(dev.shutdown().await.is_empty());
}
