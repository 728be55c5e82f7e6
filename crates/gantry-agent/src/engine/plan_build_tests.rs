use gantry_api::model::{ContainerDefinition, ContainerDependency, TaskDefinition};
use gantry_api::TaskStatus;
use gantry_image::ImageConfig;

use super::*;

fn image() -> Image {
    Image {
        reference: "busybox".into(),
        digest: "sha256:1".into(),
        config: ImageConfig {
            cmd: vec!["sh".into()],
            ..Default::default()
        },
        layers: vec!["/layers/1".into()],
    }
}

fn spec(defs: Vec<ContainerDefinition>) -> TaskSpec {
    TaskSpec {
        task_arn: "arn:t".into(),
        task_id: "t1".into(),
        cluster: "default".into(),
        desired_status: TaskStatus::Running,
        task_definition: TaskDefinition {
            cpu: Some("512".into()),
            memory: Some("256".into()),
            container_definitions: Some(defs),
            ..Default::default()
        },
        overrides: None,
        stop_code: None,
        stopped_reason: None,
    }
}

fn def(name: &str) -> ContainerDefinition {
    ContainerDefinition {
        name: Some(name.into()),
        image: Some("busybox".into()),
        health_check: Some(gantry_api::model::HealthCheck {
            command: Some(vec!["CMD".into(), "true".into()]),
            interval: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn every_path_comes_from_the_task_dir_and_defaults_fill_the_gaps() {
    let cfg = AgentConfig::new("http://x", "/state");
    let task = TaskDir::under(&cfg.tasks_dir(), "t1");
    let s = spec(vec![def("web")]);
    let images = [image()];
    let launch = build(&PlanInput {
        spec: &s,
        task: &task,
        images: &images,
        network: NetworkMode::Host,
        etc_mounts: &[],
        cfg: &cfg,
    })
    .expect("plan");
    let c = &launch.plan.containers[0];
    assert_eq!(c.bundle, task.bundle("web"));
    assert_eq!(c.log_path, task.log_file("web"));
    assert_eq!(
        c.rootfs_dir.as_deref(),
        Some(task.container("web").as_path())
    );
    assert_eq!(c.stop_timeout_secs, 30);
    let hc = c.health_check.as_ref().expect("check");
    assert_eq!((hc.interval_secs, hc.timeout_secs, hc.retries), (30, 5, 3));
    assert_eq!(launch.plan.task_cpu, Some(512));
    assert_eq!(launch.plan.task_memory, Some(256 << 20));
    assert_eq!(launch.plan.cgroup_parent, "/gantry/t1");
    assert_eq!(launch.containers[0].config.rootfs, task.rootfs("web"));
    assert_eq!(launch.containers[0].layers, images[0].layers);
}

#[test]
fn a_plan_the_supervisor_would_refuse_fails_here() {
    let cfg = AgentConfig::new("http://x", "/state");
    let task = TaskDir::under(&cfg.tasks_dir(), "t1");
    let mut a = def("a");
    a.depends_on = Some(vec![ContainerDependency {
        container_name: Some("a".into()),
        condition: Some("START".into()),
    }]);
    let s = spec(vec![a]);
    let err = build(&PlanInput {
        spec: &s,
        task: &task,
        images: &[image()],
        network: NetworkMode::Host,
        etc_mounts: &[],
        cfg: &cfg,
    })
    .expect_err("a self-dependency is refused");
    assert!(matches!(err, BuildError::Plan(_)), "{err}");
}
