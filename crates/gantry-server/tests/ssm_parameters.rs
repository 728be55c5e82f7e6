//! Parameter Store over the wire, one table per operation: PutParameter (types, Overwrite,
//! tiers, AllowedPattern, the naming rules, tags with overwrite, KeyId), GetParameter and
//! its selectors, GetParameters' InvalidParameters, GetParametersByPath (one level,
//! recursive, filters, paging), DescribeParameters' filters, GetParameterHistory, labels,
//! DeleteParameter(s), tags on parameters, the 100-version rule, and a user without
//! `ssm:GetParameter` on a parameter.

mod common;
mod iam_support;
mod ssm_support;

use common::Server;
use gantry_store::Store;
use serde_json::{json, Value};
use ssm_support::{err, ok, ssm};

async fn put(s: &Server, name: &str, value: &str, ty: &str) -> Value {
    ok(
        s,
        "PutParameter",
        json!({"Name": name, "Value": value, "Type": ty}),
    )
    .await
}

#[tokio::test]
async fn put_parameter_table() {
    let s = Server::start().await;
    let v = put(&s, "/app/db/host", "db.internal", "String").await;
    assert_eq!(v, json!({"Version": 1, "Tier": "Standard"}));

    // (request, exception, a piece of its message)
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"Name": "/app/db/host", "Value": "x", "Type": "String"}), "ParameterAlreadyExists",
         "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."),
        (json!({"Name": "/new", "Value": "x"}), "ValidationException", "A parameter type is required"),
        (json!({"Name": "/aws/mine", "Value": "x", "Type": "String"}), "ValidationException", "can't be prefixed with \"aws\" or \"ssm\""),
        (json!({"Name": "ssm-thing", "Value": "x", "Type": "String"}), "ValidationException", "can't be prefixed"),
        (json!({"Name": "/has space", "Value": "x", "Type": "String"}), "ValidationException", "sub-paths"),
        (json!({"Name": "a/b", "Value": "x", "Type": "String"}), "ValidationException", "fully qualified"),
        (json!({"Name": "/l".repeat(16), "Value": "x", "Type": "String"}), "HierarchyLevelLimitExceededException", "maximum of 15 levels"),
        (json!({"Name": "/x", "Value": "x", "Type": "Number"}), "ValidationException", "enum value set"),
        (json!({"Name": "/x", "Value": "x", "Type": "String", "Tier": "Gold"}), "ValidationException", "'tier'"),
        (json!({"Name": "/x", "Value": "x", "Type": "SecureString", "KeyId": "alias/mine"}), "InvalidKeyId", "KeyId member must be alias/aws/ssm"),
        (json!({"Name": "/x", "Value": "x", "Type": "String", "Overwrite": true, "Tags": [{"Key": "a", "Value": "b"}]}),
         "ValidationException", "tags and overwrite can't be used together"),
        (json!({"Name": "/x", "Value": "abc", "Type": "String", "AllowedPattern": "^\\d+$"}), "ParameterPatternMismatchException", "^\\d+$"),
        (json!({"Name": "/x", "Value": "1", "Type": "String", "AllowedPattern": "("}), "InvalidAllowedPatternException", ""),
        (json!({"Name": "/x", "Value": "a".repeat(4097), "Type": "String"}), "ValidationException", "4096 characters"),
        (json!({"Name": "/x", "Value": "1", "Type": "String", "DataType": "aws:ec2:image"}), "ValidationException", "data type is not supported"),
        (json!({"Name": "/x", "Value": "1", "Type": "String", "Policies": "[]"}), "ValidationException", "Policies"),
        (json!({"Value": "1", "Type": "String"}), "ValidationException", "Value null at 'name'"),
    ];
    for (body, kind, text) in cases {
        let m = err(&s, "PutParameter", body.clone(), kind).await;
        assert!(m.contains(text), "{body}: {m}");
        assert!(
            !m.contains("abc") || kind != "ParameterPatternMismatchException",
            "no value in errors: {m}"
        );
    }

    // Overwrite makes version 2 and keeps the type; Intelligent-Tiering picks the tier.
    let v = ok(
        &s,
        "PutParameter",
        json!({"Name": "/app/db/host", "Value": "db2", "Overwrite": true}),
    )
    .await;
    assert_eq!(v["Version"], 2);
    let g = ok(&s, "GetParameter", json!({"Name": "/app/db/host"})).await;
    assert_eq!(g["Parameter"]["Type"], "String");
    assert_eq!(g["Parameter"]["Value"], "db2");
    assert_eq!(
        g["Parameter"]["ARN"],
        "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/host"
    );
    assert_eq!(g["Parameter"]["DataType"], "text");
    let big = "b".repeat(5000);
    let v = ok(
        &s,
        "PutParameter",
        json!({"Name": "/big", "Value": big, "Type": "String", "Tier": "Intelligent-Tiering"}),
    )
    .await;
    assert_eq!(v["Tier"], "Advanced");
    let m = err(
        &s,
        "PutParameter",
        json!({"Name": "/big", "Value": "s", "Overwrite": true, "Tier": "Standard"}),
        "ValidationException",
    )
    .await;
    assert!(m.contains("can't downgrade"), "{m}");
    let v = ok(&s, "PutParameter", json!({"Name": "plain", "Value": "a,b", "Type": "StringList", "Tags": [{"Key": "team", "Value": "web"}]})).await;
    assert_eq!(v["Version"], 1);
    let t = ok(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "Parameter", "ResourceId": "plain"}),
    )
    .await;
    assert_eq!(t["TagList"], json!([{"Key": "team", "Value": "web"}]));
}

#[tokio::test]
async fn get_selectors_secure_strings_and_get_parameters() {
    let s = Server::start().await;
    put(&s, "/svc/token", "first-secret", "SecureString").await;
    ok(
        &s,
        "PutParameter",
        json!({"Name": "/svc/token", "Value": "second-secret", "Overwrite": true}),
    )
    .await;
    ok(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/svc/token", "ParameterVersion": 1, "Labels": ["old"]}),
    )
    .await;

    let g = ok(&s, "GetParameter", json!({"Name": "/svc/token"})).await;
    let hidden = g["Parameter"]["Value"].as_str().unwrap();
    assert!(
        !hidden.contains("second-secret"),
        "not decrypted unless asked"
    );
    let cases = [
        ("/svc/token", None, "second-secret", 2),
        ("/svc/token:1", Some(":1"), "first-secret", 1),
        ("/svc/token:old", Some(":old"), "first-secret", 1),
        (
            "arn:aws:ssm:us-east-1:123456789012:parameter/svc/token:2",
            Some(":2"),
            "second-secret",
            2,
        ),
    ];
    for (name, sel, value, version) in cases {
        let g = ok(
            &s,
            "GetParameter",
            json!({"Name": name, "WithDecryption": true}),
        )
        .await;
        let p = &g["Parameter"];
        assert_eq!(
            (p["Value"].as_str(), p["Version"].as_i64()),
            (Some(value), Some(version)),
            "{name}"
        );
        assert_eq!(p["Selector"].as_str(), sel, "{name}");
        assert_eq!(p["Name"], "/svc/token");
        assert_eq!(p["Type"], "SecureString");
    }
    let m = err(
        &s,
        "GetParameter",
        json!({"Name": "/svc/token:9"}),
        "ParameterVersionNotFound",
    )
    .await;
    assert!(m.contains("version 9 of /svc/token"), "{m}");
    err(
        &s,
        "GetParameter",
        json!({"Name": "/nope"}),
        "ParameterNotFound",
    )
    .await;

    put(&s, "/svc/url", "https://x", "String").await;
    let g = ok(&s, "GetParameters", json!({"Names": ["/svc/url", "/svc/missing", "/svc/token:7", "/svc/token"], "WithDecryption": true})).await;
    let names: Vec<&str> = g["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/svc/url", "/svc/token"]);
    assert_eq!(
        g["InvalidParameters"],
        json!(["/svc/missing", "/svc/token:7"])
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("/n{i}")).collect();
    let m = err(
        &s,
        "GetParameters",
        json!({"Names": eleven}),
        "ValidationException",
    )
    .await;
    assert!(m.contains("less than or equal to 10"), "{m}");

    // The store never holds a SecureString's plain text.
    let stored = s.state.store.list("ssm/").await.unwrap();
    assert!(!stored.is_empty());
    for r in stored {
        let text = String::from_utf8_lossy(&r.value);
        assert!(
            !text.contains("first-secret") && !text.contains("second-secret"),
            "{}",
            r.key
        );
    }
}

#[tokio::test]
async fn by_path_describe_and_paging() {
    let s = Server::start().await;
    for (n, t) in [
        ("/p/a", "String"),
        ("/p/b", "SecureString"),
        ("/p/c/d", "String"),
        ("/p/c/e/f", "StringList"),
        ("/q/z", "String"),
        ("top", "String"),
    ] {
        put(&s, n, "v", t).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"Path": "/p"}), vec!["/p/a", "/p/b"]),
        (
            json!({"Path": "/p/", "Recursive": true}),
            vec!["/p/a", "/p/b", "/p/c/d", "/p/c/e/f"],
        ),
        (
            json!({"Path": "/p", "Recursive": true, "ParameterFilters": [{"Key": "Type", "Values": ["String"]}]}),
            vec!["/p/a", "/p/c/d"],
        ),
        (json!({"Path": "/"}), vec![]),
        (
            json!({"Path": "/", "Recursive": true, "ParameterFilters": [{"Key": "Type", "Option": "BeginsWith", "Values": ["StringL"]}]}),
            vec!["/p/c/e/f"],
        ),
    ];
    for (body, want) in cases {
        let v = ok(&s, "GetParametersByPath", body.clone()).await;
        assert_eq!(names(&v), want, "{body}");
    }
    err(
        &s,
        "GetParametersByPath",
        json!({"Path": "/p", "ParameterFilters": [{"Key": "Name", "Values": ["x"]}]}),
        "InvalidFilterKey",
    )
    .await;
    err(&s, "GetParametersByPath", json!({"Path": "/p", "ParameterFilters": [{"Key": "Type", "Option": "Recursive", "Values": ["x"]}]}), "InvalidFilterOption").await;
    err(
        &s,
        "GetParametersByPath",
        json!({"Path": "/p", "MaxResults": 11}),
        "ValidationException",
    )
    .await;
    err(
        &s,
        "GetParametersByPath",
        json!({"Path": "/p", "NextToken": "zz"}),
        "InvalidNextToken",
    )
    .await;

    // Paging: one at a time through the recursive listing.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"Path": "/p", "Recursive": true, "MaxResults": 1});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let v = ok(&s, "GetParametersByPath", body).await;
        seen.extend(names(&v));
        match v["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["/p/a", "/p/b", "/p/c/d", "/p/c/e/f"]);

    let d = ok(&s, "DescribeParameters", json!({})).await;
    assert_eq!(names(&d).len(), 6);
    let b = d["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "/p/b")
        .unwrap();
    assert_eq!(b["KeyId"], "alias/aws/ssm");
    assert_eq!(b["Tier"], "Standard");
    assert!(b.get("Value").is_none());
    assert!(b["LastModifiedUser"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::123456789012:"));
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"Filters": [{"Key": "Type", "Values": ["SecureString"]}]}),
            vec!["/p/b"],
        ),
        (
            json!({"Filters": [{"Key": "Name", "Values": ["/q"]}]}),
            vec!["/q/z"],
        ),
        (
            json!({"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": ["/p/c"]}]}),
            vec!["/p/c/d", "/p/c/e/f"],
        ),
        (
            json!({"ParameterFilters": [{"Key": "Name", "Values": ["top"]}]}),
            vec!["top"],
        ),
        (
            json!({"ParameterFilters": [{"Key": "Name", "Option": "Contains", "Values": ["c/e"]}]}),
            vec!["/p/c/e/f"],
        ),
        (
            json!({"ParameterFilters": [{"Key": "KeyId", "Values": ["alias/aws/ssm"]}]}),
            vec!["/p/b"],
        ),
        (json!({"Shared": true}), vec![]),
    ];
    for (body, want) in cases {
        let v = ok(&s, "DescribeParameters", body.clone()).await;
        assert_eq!(names(&v), want, "{body}");
    }
    err(&s, "DescribeParameters", json!({"Filters": [{"Key": "Type", "Values": ["String"]}], "ParameterFilters": [{"Key": "Type", "Values": ["String"]}]}), "ValidationException").await;
    err(
        &s,
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Colour", "Values": ["x"]}]}),
        "InvalidFilterKey",
    )
    .await;
    let p1 = ok(&s, "DescribeParameters", json!({"MaxResults": 4})).await;
    let p2 = ok(
        &s,
        "DescribeParameters",
        json!({"MaxResults": 4, "NextToken": p1["NextToken"]}),
    )
    .await;
    assert_eq!(names(&p1).len() + names(&p2).len(), 6);
    assert!(p2.get("NextToken").is_none());
}

#[tokio::test]
async fn history_labels_delete_and_tags() {
    let s = Server::start().await;
    put(&s, "/h", "v1", "String").await;
    for v in ["v2", "v3"] {
        ok(
            &s,
            "PutParameter",
            json!({"Name": "/h", "Value": v, "Overwrite": true, "Description": "d"}),
        )
        .await;
    }
    let h = ok(&s, "GetParameterHistory", json!({"Name": "/h"})).await;
    let list = h["Parameters"].as_array().unwrap();
    let values: Vec<&str> = list.iter().map(|p| p["Value"].as_str().unwrap()).collect();
    assert_eq!(values, ["v1", "v2", "v3"]);
    assert_eq!(list[2]["Description"], "d");
    let p = ok(
        &s,
        "GetParameterHistory",
        json!({"Name": "/h", "MaxResults": 2}),
    )
    .await;
    assert_eq!(p["Parameters"].as_array().unwrap().len(), 2);
    let p = ok(
        &s,
        "GetParameterHistory",
        json!({"Name": "/h", "MaxResults": 2, "NextToken": p["NextToken"]}),
    )
    .await;
    assert_eq!(p["Parameters"][0]["Version"], 3);
    err(
        &s,
        "GetParameterHistory",
        json!({"Name": "/none"}),
        "ParameterNotFound",
    )
    .await;

    // Labels: invalid ones are reported, a label moves, ten at most on a version.
    let l = ok(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/h", "ParameterVersion": 1, "Labels": ["prod", "9lives", "awsy", "ok.1"]}),
    )
    .await;
    assert_eq!(
        l,
        json!({"ParameterVersion": 1, "InvalidLabels": ["9lives", "awsy"]})
    );
    let l = ok(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/h", "Labels": ["prod"]}),
    )
    .await;
    assert_eq!(l["ParameterVersion"], 3);
    let h = ok(&s, "GetParameterHistory", json!({"Name": "/h"})).await;
    assert_eq!(h["Parameters"][0]["Labels"], json!(["ok.1"]));
    assert_eq!(h["Parameters"][2]["Labels"], json!(["prod"]));
    err(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/h", "ParameterVersion": 8, "Labels": ["x"]}),
        "ParameterVersionNotFound",
    )
    .await;
    let many: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    ok(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/h", "ParameterVersion": 2, "Labels": many}),
    )
    .await;
    err(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/h", "ParameterVersion": 2, "Labels": ["one-more"]}),
        "ParameterVersionLabelLimitExceeded",
    )
    .await;
    let u = ok(
        &s,
        "UnlabelParameterVersion",
        json!({"Name": "/h", "ParameterVersion": 3, "Labels": ["prod", "nope"]}),
    )
    .await;
    assert_eq!(
        u,
        json!({"RemovedLabels": ["prod"], "InvalidLabels": ["nope"]})
    );

    // Tags on a parameter.
    ok(&s, "AddTagsToResource", json!({"ResourceType": "Parameter", "ResourceId": "/h", "Tags": [{"Key": "k", "Value": "v"}]})).await;
    let t = ok(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/h"}),
    )
    .await;
    assert_eq!(t["TagList"], json!([{"Key": "k", "Value": "v"}]));
    ok(
        &s,
        "RemoveTagsFromResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/h", "TagKeys": ["k"]}),
    )
    .await;
    let t = ok(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/h"}),
    )
    .await;
    assert_eq!(t["TagList"], json!([]));
    err(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/none"}),
        "InvalidResourceId",
    )
    .await;

    // Delete.
    put(&s, "/d1", "x", "String").await;
    ok(&s, "DeleteParameter", json!({"Name": "/h"})).await;
    err(
        &s,
        "DeleteParameter",
        json!({"Name": "/h"}),
        "ParameterNotFound",
    )
    .await;
    let d = ok(&s, "DeleteParameters", json!({"Names": ["/d1", "/d2"]})).await;
    assert_eq!(
        d,
        json!({"DeletedParameters": ["/d1"], "InvalidParameters": ["/d2"]})
    );
    err(
        &s,
        "GetParameter",
        json!({"Name": "/d1"}),
        "ParameterNotFound",
    )
    .await;
}

#[tokio::test]
async fn the_hundredth_version_drops_the_oldest_unless_labelled() {
    let s = Server::start().await;
    put(&s, "/v", "0", "String").await;
    for i in 2..=100 {
        ok(
            &s,
            "PutParameter",
            json!({"Name": "/v", "Value": i.to_string(), "Overwrite": true}),
        )
        .await;
    }
    let v = ok(
        &s,
        "PutParameter",
        json!({"Name": "/v", "Value": "101", "Overwrite": true}),
    )
    .await;
    assert_eq!(v["Version"], 101);
    err(
        &s,
        "GetParameter",
        json!({"Name": "/v:1"}),
        "ParameterVersionNotFound",
    )
    .await;
    ok(
        &s,
        "LabelParameterVersion",
        json!({"Name": "/v", "ParameterVersion": 2, "Labels": ["keep"]}),
    )
    .await;
    let m = err(
        &s,
        "PutParameter",
        json!({"Name": "/v", "Value": "102", "Overwrite": true}),
        "ParameterMaxVersionLimitExceeded",
    )
    .await;
    assert!(
        m.contains("Version 2, the oldest version, can't be deleted"),
        "{m}"
    );
}

#[tokio::test]
async fn a_user_may_read_only_the_parameters_its_policy_names() {
    let mut s = iam_support::start().await;
    put(&s, "/team/a", "x", "String").await;
    put(&s, "/other/b", "y", "String").await;
    iam_support::iam(&s, "CreateUser", &[("UserName", "alice")])
        .await
        .ok();
    let k = iam_support::iam(&s, "CreateAccessKey", &[("UserName", "alice")])
        .await
        .ok();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameter","ssm:GetParametersByPath"],"Resource":["arn:aws:ssm:us-east-1:123456789012:parameter/team/*","arn:aws:ssm:us-east-1:123456789012:parameter/team"]}]}"#;
    iam_support::iam(
        &s,
        "PutUserPolicy",
        &[
            ("UserName", "alice"),
            ("PolicyName", "p"),
            ("PolicyDocument", doc),
        ],
    )
    .await
    .ok();
    s.key = common::sign::Key {
        access_key_id: k.get("AccessKeyId").unwrap(),
        secret: k.get("SecretAccessKey").unwrap(),
        session_token: None,
    };
    common::eventually("the policy to apply", || async {
        ssm(&s, "GetParameter", json!({"Name": "/team/a"}))
            .await
            .status
            == 200
    })
    .await;
    let r = ssm(&s, "GetParametersByPath", json!({"Path": "/team"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (op, body) in [
        ("GetParameter", json!({"Name": "/other/b"})),
        ("GetParameters", json!({"Names": ["/team/a", "/other/b"]})),
        ("GetParametersByPath", json!({"Path": "/other"})),
        (
            "PutParameter",
            json!({"Name": "/team/c", "Value": "z", "Type": "String"}),
        ),
        ("DeleteParameter", json!({"Name": "/team/a"})),
    ] {
        let r = ssm(&s, op, body).await;
        assert_eq!(
            (r.status, r.kind()),
            (400, "AccessDeniedException"),
            "{op}: {}",
            r.body
        );
    }
}
