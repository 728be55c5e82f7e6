//! The real AWS CLI against SSM: `aws ssm create-activation` (botocore's JSON 1.1 serializer
//! and SigV4 for `ssm`), `describe-activations`, `describe-instance-information`,
//! `deregister-managed-instance` and `delete-activation` read what Gantry answers, and an
//! error comes back under SSM's exception name.

mod aws_cli;
mod common;
mod iam_support;

use aws_cli::aws;
use gantry_server::ssm::activations::redeem;
use iam_support::start;

#[tokio::test]
async fn the_aws_cli_creates_lists_and_deletes_activations() {
    let s = start().await;
    let url = s.url();
    let a = aws(
        &url,
        &[
            "ssm",
            "create-activation",
            "--iam-role",
            "gantry-external-node",
            "--registration-limit",
            "2",
            "--default-instance-name",
            "lab",
            "--tags",
            "Key=site,Value=lab",
        ],
    )
    .await
    .unwrap();
    let id = a["ActivationId"].as_str().unwrap().to_string();
    let code = a["ActivationCode"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 20);

    let d = aws(&url, &["ssm", "describe-activations"]).await.unwrap();
    let act = &d["ActivationList"][0];
    assert_eq!(act["ActivationId"], id.as_str());
    assert_eq!(act["RegistrationLimit"], 2);
    assert_eq!(act["RegistrationsCount"], 0);
    assert_eq!(act["Expired"], false);
    assert_eq!(act["DefaultInstanceName"], "lab");
    // botocore parsed the timestamps (this CLI prints them back as epoch seconds).
    assert!(act["ExpirationDate"].as_f64().unwrap() > act["CreatedDate"].as_f64().unwrap());

    let mi = redeem(&s.state, &id, &code, "lab-host")
        .await
        .unwrap()
        .managed_instance_id;
    let i = aws(&url, &["ssm", "describe-instance-information"])
        .await
        .unwrap();
    assert_eq!(i["InstanceInformationList"][0]["InstanceId"], mi.as_str());
    assert_eq!(
        i["InstanceInformationList"][0]["ResourceType"],
        "ManagedInstance"
    );

    aws(
        &url,
        &["ssm", "deregister-managed-instance", "--instance-id", &mi],
    )
    .await
    .unwrap();
    let e = aws(
        &url,
        &["ssm", "deregister-managed-instance", "--instance-id", &mi],
    )
    .await
    .unwrap_err();
    assert!(e.contains("(InvalidInstanceId)"), "{e}");

    aws(&url, &["ssm", "delete-activation", "--activation-id", &id])
        .await
        .unwrap();
    let e = aws(&url, &["ssm", "delete-activation", "--activation-id", &id])
        .await
        .unwrap_err();
    assert!(e.contains("(InvalidActivationId)"), "{e}");
    let e = aws(
        &url,
        &[
            "ssm",
            "create-activation",
            "--iam-role",
            "r",
            "--expiration-date",
            "2001-01-01T00:00:00",
        ],
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("(InvalidParameters)") && e.contains("in the past"),
        "{e}"
    );
}
