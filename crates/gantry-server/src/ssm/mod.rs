//! AWS Systems Manager, the part ECS Anywhere uses: activations and the managed instances
//! registered through them (JSON 1.1, `X-Amz-Target: AmazonSSM.<Operation>`, shapes from
//! botocore's `ssm` model). Parameter Store comes with the secrets issue.

pub mod activations;
