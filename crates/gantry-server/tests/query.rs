//! The query protocol on `POST /` (form body, no X-Amz-Target): parsed and answered in
//! XML with the ErrorResponse shape, even before any query service is registered.

mod common;

use common::Server;

async fn post_form(s: &Server, body: &'static str, scope: &str) -> (u16, String, String) {
    let resp = s.form(body, scope).await;
    let status = resp.status().as_u16();
    let rid = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.headers()["content-type"], "text/xml");
    (status, rid, resp.text().await.unwrap())
}

#[tokio::test]
async fn query_requests_get_xml_errors() {
    let s = Server::start().await;
    let (status, rid, body) = post_form(
        &s,
        "Action=DescribeLoadBalancers&Version=2015-12-01",
        "elasticloadbalancing",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>"),
        "{body}"
    );
    assert!(
        body.contains("DescribeLoadBalancers of service elasticloadbalancing is not served here"),
        "{body}"
    );
    assert!(body.ends_with(&format!("<RequestId>{rid}</RequestId></ErrorResponse>")));

    let (status, _, body) = post_form(&s, "Version=2010-05-08", "iam").await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>MissingAction</Code>"), "{body}");

    // ECS over JSON is unaffected.
    let r = s.call("ListClusters", serde_json::json!({})).await;
    assert_eq!(r.status, 200);
}
