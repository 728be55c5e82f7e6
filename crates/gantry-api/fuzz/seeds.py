#!/usr/bin/env python3
"""Writes the seed corpus and the libFuzzer dictionary of the `request` target.

Usage: python3 crates/gantry-api/fuzz/seeds.py   (from anywhere; rerun after regenerating the
model, since the first byte of each seed is the operation's index in OPERATIONS).

An input of the target is one byte choosing the operation, then the request body.
"""
import json, os, re

HERE = os.path.dirname(os.path.abspath(__file__))
ECS = os.path.join(HERE, "..", "src", "ecs")

SEEDS = {
    "CreateCluster": [
        {"clusterName": "default"},
        {"clusterName": "prod", "tags": [{"key": "team", "value": "web"}],
         "settings": [{"name": "containerInsights", "value": "enabled"}]},
    ],
    "DescribeClusters": [{"clusters": ["default"], "include": ["TAGS", "STATISTICS"]}],
    "ListClusters": [{}, {"maxResults": 10, "nextToken": "abc"}],
    "DeleteCluster": [{"cluster": "default"}],
    "RegisterTaskDefinition": [
        {"family": "web", "containerDefinitions": [{"name": "nginx", "image": "nginx:1.27", "memory": 128}]},
        {"family": "app", "networkMode": "bridge", "cpu": "256", "memory": "512",
         "requiresCompatibilities": ["EC2"],
         "containerDefinitions": [{
             "name": "app", "image": "busybox", "cpu": 128, "memoryReservation": 64, "essential": True,
             "command": ["sh", "-c", "sleep 3600"], "entryPoint": ["/bin/sh"],
             "environment": [{"name": "A", "value": "1"}],
             "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}],
             "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False}],
             "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
             "healthCheck": {"command": ["CMD", "true"], "interval": 30, "retries": 3},
             "dockerLabels": {"k": "v"},
             "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}},
             "restartPolicy": {"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
         }],
         "volumes": [{"name": "data", "host": {"sourcePath": "/srv/data"}}],
         "tags": [{"key": "k", "value": "v"}]},
    ],
    "DescribeTaskDefinition": [{"taskDefinition": "web:1", "include": ["TAGS"]}],
    "DeregisterTaskDefinition": [{"taskDefinition": "web:1"}],
    "ListTaskDefinitions": [{"familyPrefix": "web", "status": "ACTIVE", "sort": "DESC"}],
    "RunTask": [
        {"taskDefinition": "web"},
        {"cluster": "default", "taskDefinition": "web:1", "count": 2, "startedBy": "ci",
         "launchType": "EC2", "placementStrategy": [{"type": "spread", "field": "instanceId"}],
         "placementConstraints": [{"type": "distinctInstance"}],
         "overrides": {"containerOverrides": [{"name": "nginx", "command": ["nginx", "-g", "daemon off;"],
                                               "environment": [{"name": "X", "value": "y"}], "memory": 256}]},
         "tags": [{"key": "k", "value": "v"}]},
    ],
    "StartTask": [{"cluster": "default", "taskDefinition": "web:1", "containerInstances": ["i-1"]}],
    "StopTask": [{"cluster": "default", "task": "0123456789abcdef", "reason": "done"}],
    "DescribeTasks": [{"cluster": "default", "tasks": ["arn:aws:ecs:local:000000000000:task/default/abc"]}],
    "ListTasks": [{"cluster": "default", "desiredStatus": "RUNNING", "family": "web", "maxResults": 100}],
    "ListContainerInstances": [{"cluster": "default", "status": "ACTIVE"}],
    "DescribeContainerInstances": [{"cluster": "default", "containerInstances": ["i-1"]}],
    "PutAttributes": [{"cluster": "default", "attributes": [
        {"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": "i-1"}]}],
    "ListAttributes": [{"cluster": "default", "targetType": "container-instance", "attributeName": "stack"}],
    "TagResource": [{"resourceArn": "arn:aws:ecs:local:000000000000:cluster/default",
                     "tags": [{"key": "team", "value": "web"}]}],
    "UntagResource": [{"resourceArn": "arn:aws:ecs:local:000000000000:cluster/default", "tagKeys": ["team"]}],
    "ListTagsForResource": [{"resourceArn": "arn:aws:ecs:local:000000000000:cluster/default"}],
    "CreateService": [{"cluster": "default", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2,
                       "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 50}}],
    "UpdateService": [{"cluster": "default", "service": "web", "desiredCount": 3}],
    "ListServiceDeployments": [{"service": "web", "createdAt": {"after": 1700000000.5}}],
    "RegisterContainerInstance": [{"cluster": "default", "totalResources": [
        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
        {"name": "MEMORY", "type": "LONG", "longValue": 8589934592},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]}]}],
}


def operations():
    text = open(os.path.join(ECS, "operations.rs")).read()
    return re.findall(r'Operation \{ name: "(\w+)"', text)


def dictionary():
    """Member names and enum values of the model, as JSON string tokens."""
    text = open(os.path.join(ECS, "schema.rs")).read()
    words = set(re.findall(r'\("(\w+)", "\w+"\)', text))
    for enum in re.findall(r"enum_values: &\[([^\]]*)\]", text):
        words.update(re.findall(r'"([^"]*)"', enum))
    return sorted(words)


def main():
    ops = operations()
    out = os.path.join(HERE, "corpus", "request")
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.startswith("seed-"):
            os.remove(os.path.join(out, old))
    for op, bodies in SEEDS.items():
        index = ops.index(op)
        for n, body in enumerate(bodies):
            data = bytes([index]) + json.dumps(body, separators=(",", ":")).encode()
            with open(os.path.join(out, "seed-%s-%d" % (op, n)), "wb") as f:
                f.write(data)
    with open(os.path.join(HERE, "request.dict"), "w") as f:
        f.write("# Generated by seeds.py from src/ecs/schema.rs: member names and enum values.\n")
        for tok in ['"{"', '"}"', '"["', '"]"', '":"', '","', '"null"', '"true"', '"false"',
                    '"2147483648"', '"-2147483649"', '"1e400"', '"-0"', '"\\\\u0000"']:
            f.write(tok + "\n")
        for w in dictionary():
            f.write(json.dumps(json.dumps(w)) + "\n")


if __name__ == "__main__":
    main()
