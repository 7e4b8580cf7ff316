#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed the lab's moto server with the incident-response AWS account, and print what is there as JSON.

    python lab/seed_aws.py --endpoint-url http://10.77.1.1:5000 [--region us-east-1] [--now ISO8601]

What it creates (found again by name or tag on the next run, never duplicated):
- a VPC with app and database subnets in two zones;
- security groups: ALB (443 from the internet: public, and not a database port), app (8080 from the ALB,
  22 from the bastion), bastion (22 from the office range), db (5432 from the app group only), and
  legacy-db, the dangerously open one (5432 from 0.0.0.0/0);
- EC2 instances app1, app2 and bastion in those groups;
- RDS instance incident-response-prod (postgres 15, db.t3.medium, Multi-AZ, 100 GiB) in the db group,
  and a manual snapshot;
- S3 bucket backups-incident-response with backups under latest/ and the prefixes the tests need;
- SQS queue incident-response-jobs with a RedrivePolicy to incident-response-jobs-dlq (maxReceiveCount 5), a
  backlog of 1500 messages (above sqs_queue_health_info's 1000) and 3 messages in the dead-letter queue, topped
  up to those counts on every run, never doubled;
- ElastiCache cache cluster incident-response-cache (redis 7.1, cache.t3.micro), standing for the lab's Redis.

What every run adds fresh, because an incident window is always "now":
- CloudWatch metrics for the last 15 minutes: the instance's CPU, connections, storage, latency, and
  ALB-style RequestCount, HTTPCode_Target_5XX_Count and TargetResponseTime; the 5xx ratio is 7 % over
  the last 8 minutes and 0.5 % before (the runbook's high_error_rate alert is firing);
- log streams in /aws/lambda/incident-response with events for the last 10 minutes, some of them 5xx;
- the queue's ApproximateAgeOfOldestMessage for the last 15 minutes: its consumers stopped when the 5xx spike
  began, so the oldest message is 8.5 minutes old now (moto publishes no SQS metrics of its own).

What moto does not let us fake: S3 LastModified and RDS snapshot times are the moment of the upload or
snapshot, on moto's clock. Backups of "different ages" are therefore seconds apart, in a known order;
tests judge real ages with the modules' ``as_of`` option instead of backdated objects. ``--now`` moves
only the metric and log timestamps. moto's ElastiCache has no node details, and a cluster deleted there
stays in status ``deleting`` for good: this script cannot bring it back (restart moto, then seed again).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import sys
import time
import typing as t
import urllib.parse

import boto3
import botocore.exceptions

PREFIX = "incident-response"
DB_ID = "incident-response-prod"
BUCKET = "backups-incident-response"
LOG_GROUP = "/aws/lambda/incident-response"
LOAD_BALANCER = "app/incident-response-alb/50dc6c495c0c9188"
OFFICE_CIDR = "203.0.113.0/24"  # TEST-NET-3: documentation range, never routed
ARCHIVE_OBJECTS = 1005  # more than one ListObjectsV2 page (1000 keys)
INCIDENT_MINUTES = 8  # the 5xx spike covers the last 8 of the 15 seeded minutes
QUEUE = f"{PREFIX}-jobs"
DEAD_LETTER_QUEUE = f"{QUEUE}-dlq"
BACKLOG_MESSAGES = 1500  # above the depth_warn (1000) of sqs_queue_health_info
DEAD_LETTERS = 3  # any message in a dead-letter queue is a warning
CACHE_CLUSTER = f"{PREFIX}-cache"


def tag(name: str) -> list[dict[str, t.Any]]:
    return [{"Key": "Name", "Value": name}, {"Key": "service", "Value": PREFIX}]


def ensure_network(ec2: t.Any) -> dict[str, t.Any]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-vpc"]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag(f"{PREFIX}-vpc")}]
        )["Vpc"]["VpcId"]
    existing = {
        s["CidrBlock"]: s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    }
    subnets = {}
    for name, cidr, zone in (
        ("app-a", "10.0.1.0/24", "a"),
        ("app-b", "10.0.2.0/24", "b"),
        ("db-a", "10.0.10.0/24", "a"),
        ("db-b", "10.0.11.0/24", "b"),
    ):
        subnets[name] = (
            existing.get(cidr)
            or ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=ec2.meta.region_name + zone,
                TagSpecifications=[{"ResourceType": "subnet", "Tags": tag(f"{PREFIX}-{name}")}],
            )["Subnet"]["SubnetId"]
        )
    return {"vpc_id": vpc_id, "subnets": subnets}


def ensure_group(ec2: t.Any, vpc_id: str, name: str, description: str) -> str:
    found = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    if found:
        return found[0]["GroupId"]
    return ec2.create_security_group(
        GroupName=name,
        Description=description,
        VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tag(name)}],
    )["GroupId"]


def allow(
    ec2: t.Any,
    group_id: str,
    port: int,
    description: str,
    *,
    cidr: str | None = None,
    cidr6: str | None = None,
    group: str | None = None,
) -> None:
    permission: dict[str, t.Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        permission["IpRanges"] = [{"CidrIp": cidr, "Description": description}]
    if cidr6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr6, "Description": description}]
    if group:
        permission["UserIdGroupPairs"] = [{"GroupId": group, "Description": description}]
    try:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "InvalidPermission.Duplicate":
            raise


def ensure_security_groups(ec2: t.Any, vpc_id: str) -> dict[str, str]:
    ids = {
        "alb": ensure_group(ec2, vpc_id, f"{PREFIX}-alb", "Public HTTPS load balancer"),
        "app": ensure_group(ec2, vpc_id, f"{PREFIX}-app", "Application hosts"),
        "bastion": ensure_group(ec2, vpc_id, f"{PREFIX}-bastion", "Bastion host"),
        "db": ensure_group(ec2, vpc_id, f"{PREFIX}-db", "PostgreSQL, from the application only"),
        "legacy_db": ensure_group(ec2, vpc_id, f"{PREFIX}-legacy-db", "Left over from the vendor migration"),
    }
    allow(ec2, ids["alb"], 443, "public HTTPS", cidr="0.0.0.0/0", cidr6="::/0")
    allow(ec2, ids["app"], 8080, "from the load balancer", group=ids["alb"])
    allow(ec2, ids["app"], 22, "from the bastion", group=ids["bastion"])
    allow(ec2, ids["bastion"], 22, "office", cidr=OFFICE_CIDR)
    allow(ec2, ids["db"], 5432, "app to db", group=ids["app"])
    allow(ec2, ids["legacy_db"], 5432, "TEMPORARY vendor access - remove", cidr="0.0.0.0/0")
    return ids


def ensure_instances(ec2: t.Any, subnets: dict[str, str], groups: dict[str, str]) -> dict[str, dict[str, str]]:
    wanted = {"app1": ("app-a", "app"), "app2": ("app-b", "app"), "bastion": ("app-a", "bastion")}
    found = {}
    for reservation in ec2.describe_instances(
        Filters=[
            {"Name": "tag:service", "Values": [PREFIX]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]:
        for instance in reservation["Instances"]:
            name = next(tg["Value"] for tg in instance.get("Tags", []) if tg["Key"] == "Name")
            found[name] = instance
    result = {}
    for name, (subnet, group) in wanted.items():
        instance = (
            found.get(f"{PREFIX}-{name}")
            or ec2.run_instances(
                ImageId="ami-12c6146b",
                InstanceType="t3.small",
                MinCount=1,
                MaxCount=1,
                SubnetId=subnets[subnet],
                SecurityGroupIds=[groups[group]],
                TagSpecifications=[{"ResourceType": "instance", "Tags": tag(f"{PREFIX}-{name}")}],
            )["Instances"][0]
        )
        result[name] = {
            "instance_id": instance["InstanceId"],
            "private_ip": instance["PrivateIpAddress"],
            "eni_id": instance["NetworkInterfaces"][0]["NetworkInterfaceId"],
        }
    return result


def ensure_database(rds: t.Any, subnets: dict[str, str], db_group: str) -> dict[str, t.Any]:
    try:
        rds.describe_db_subnet_groups(DBSubnetGroupName=f"{PREFIX}-db")
    except rds.exceptions.DBSubnetGroupNotFoundFault:
        rds.create_db_subnet_group(
            DBSubnetGroupName=f"{PREFIX}-db",
            DBSubnetGroupDescription="database subnets",
            SubnetIds=[subnets["db-a"], subnets["db-b"]],
        )
    try:
        instance = rds.describe_db_instances(DBInstanceIdentifier=DB_ID)["DBInstances"][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        instance = rds.create_db_instance(
            DBInstanceIdentifier=DB_ID,
            DBInstanceClass="db.t3.medium",
            Engine="postgres",
            EngineVersion="15.4",
            MasterUsername="admin",
            MasterUserPassword="lab-admin-pw",
            DBName="incident_response",
            AllocatedStorage=100,
            MaxAllocatedStorage=200,
            StorageType="gp3",
            MultiAZ=True,
            BackupRetentionPeriod=7,
            PreferredBackupWindow="03:00-03:30",
            DBSubnetGroupName=f"{PREFIX}-db",
            VpcSecurityGroupIds=[db_group],
            Tags=tag(DB_ID),
        )["DBInstance"]
    manual = f"{DB_ID}-pre-v1-2-3"
    if not rds.describe_db_snapshots(DBInstanceIdentifier=DB_ID, SnapshotType="manual")["DBSnapshots"]:
        rds.create_db_snapshot(DBSnapshotIdentifier=manual, DBInstanceIdentifier=DB_ID)
    automated = rds.describe_db_snapshots(DBInstanceIdentifier=DB_ID, SnapshotType="automated")["DBSnapshots"]
    return {
        "identifier": DB_ID,
        "port": instance["Endpoint"]["Port"],
        "endpoint": instance["Endpoint"]["Address"],
        "security_group_ids": [g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]],
        "manual_snapshot": manual,
        "automated_snapshots": [
            {"identifier": s["DBSnapshotIdentifier"], "created": s["SnapshotCreateTime"].isoformat()} for s in automated
        ],
    }


def seed_metrics(cloudwatch: t.Any, now: datetime.datetime) -> dict[str, t.Any]:
    """One datapoint a minute for the last 15 minutes (the current minute included)."""
    end = now.replace(second=0, microsecond=0)
    rds_dims = [{"Name": "DBInstanceIdentifier", "Value": DB_ID}]
    alb_dims = [{"Name": "LoadBalancer", "Value": LOAD_BALANCER}]
    for minute in range(15):
        stamp = end - datetime.timedelta(minutes=minute)
        wobble = (minute * 7) % 5  # deterministic variation, so max and mean differ
        incident = minute < INCIDENT_MINUTES
        cloudwatch.put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": rds_dims,
                    "Timestamp": stamp,
                    "Value": 40.0 + wobble,
                    "Unit": "Percent",
                },
                {
                    "MetricName": "DatabaseConnections",
                    "Dimensions": rds_dims,
                    "Timestamp": stamp,
                    "Value": 110.0 + 5 * wobble,
                    "Unit": "Count",
                },
                {
                    "MetricName": "FreeStorageSpace",
                    "Dimensions": rds_dims,
                    "Timestamp": stamp,
                    "Value": (72.0 - 0.01 * (15 - minute)) * 1024**3,
                    "Unit": "Bytes",
                },
                {
                    "MetricName": "ReadLatency",
                    "Dimensions": rds_dims,
                    "Timestamp": stamp,
                    "Value": 0.0015 + 0.0003 * wobble,
                    "Unit": "Seconds",
                },
                {
                    "MetricName": "WriteLatency",
                    "Dimensions": rds_dims,
                    "Timestamp": stamp,
                    "Value": 0.0035 + 0.0004 * wobble,
                    "Unit": "Seconds",
                },
            ],
        )
        # Real CloudWatch computes percentiles from Values/Counts; moto does not (see the tests).
        latency_counts = [900, 180, 120] if incident else [1100, 90, 10]
        cloudwatch.put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {
                    "MetricName": "RequestCount",
                    "Dimensions": alb_dims,
                    "Timestamp": stamp,
                    "Value": 1200.0,
                    "Unit": "Count",
                },
                {
                    "MetricName": "HTTPCode_Target_5XX_Count",
                    "Dimensions": alb_dims,
                    "Timestamp": stamp,
                    "Value": 84.0 if incident else 6.0,
                    "Unit": "Count",
                },
                {
                    "MetricName": "TargetResponseTime",
                    "Dimensions": alb_dims,
                    "Timestamp": stamp,
                    "Values": [0.08, 0.2, 0.65],
                    "Counts": latency_counts,
                    "Unit": "Seconds",
                },
            ],
        )
    return {
        "newest_datapoint": end.isoformat(),
        "minutes": 15,
        "incident_minutes": INCIDENT_MINUTES,
        "rds_dimensions": {"DBInstanceIdentifier": DB_ID},
        "alb_dimensions": {"LoadBalancer": LOAD_BALANCER},
        "requests_per_minute": 1200,
        "errors_per_minute": {"incident": 84, "before": 6},
        "cpu_percent": {"min": 40.0, "max": 44.0},
        "connections_peak": 130.0,
        "target_response_time_seconds": {"max": 0.65, "mean_incident": 0.155},
    }


def log_line(stamp: datetime.datetime, request: str, index: int, incident: bool) -> str:
    when = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if incident and index % 4 == 0:
        status, cause = (
            (503, "upstream timeout after 30000 ms")
            if index % 8 == 0
            else (500, "psycopg2.OperationalError: could not connect to server")
        )
        return f'[ERROR]\t{when}\t{request}\t5xx status={status} method=POST path=/api/incidents error="{cause}"'
    return f"[INFO]\t{when}\t{request}\tstatus=200 method=GET path=/api/incidents duration_ms={40 + index % 30}"


def seed_logs(logs: t.Any, now: datetime.datetime) -> dict[str, t.Any]:
    """Three fresh streams, one event every 10 s for the last 10 minutes; 5xx lines in the last 8."""
    try:
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=14)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    run_id = hashlib.sha256(now.isoformat().encode()).hexdigest()[:24]
    streams = {}
    for number in range(3):
        name = f"{now:%Y/%m/%d}/[$LATEST]{run_id}{number}"
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=name)
        events, matches = [], 0
        for index in range(60):
            stamp = now - datetime.timedelta(seconds=600 - index * 10 - number)
            incident = stamp > now - datetime.timedelta(minutes=INCIDENT_MINUTES)
            line = log_line(stamp, f"{run_id[:8]}-{number}-{index:04d}", index, incident)
            matches += "5xx" in line
            events.append({"timestamp": int(stamp.timestamp() * 1000), "message": line})
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=name, logEvents=events)
        streams[name] = {
            "events": len(events),
            "matches_5xx": matches,
            "first": events[0]["timestamp"],
            "last": events[-1]["timestamp"],
        }
    return {
        "log_group": LOG_GROUP,
        "streams": streams,
        "events": sum(s["events"] for s in streams.values()),
        "matches_5xx": sum(s["matches_5xx"] for s in streams.values()),
    }


def queue_url(sqs: t.Any, name: str, attributes: dict[str, str] | None = None) -> str:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
    return sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]


def top_up(sqs: t.Any, url: str, wanted: int, body: t.Callable[[int], str]) -> int:
    """Send what the queue lacks of ``wanted`` messages (waiting plus in flight); return how many were sent."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    present = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    missing = list(range(present, wanted))
    batches = [missing[i : i + 10] for i in range(0, len(missing), 10)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda batch: sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": body(n)} for n in batch]), batches))
    return len(missing)


def ensure_queues(sqs: t.Any) -> dict[str, t.Any]:
    """The job queue with its dead-letter queue, a backlog in the one and dead letters in the other."""
    dlq_url = queue_url(sqs, DEAD_LETTER_QUEUE)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = queue_url(sqs, QUEUE, {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})})
    sent = top_up(sqs, url, BACKLOG_MESSAGES, lambda n: json.dumps({"job": "notify", "incident": n}))
    dead = top_up(sqs, dlq_url, DEAD_LETTERS,
                  lambda n: json.dumps({"job": "notify", "incident": n, "error": "SMTP 421 try again later"}))
    return {"queue": QUEUE, "url": url, "messages": BACKLOG_MESSAGES, "sent": sent,
            "dead_letter_queue": DEAD_LETTER_QUEUE, "dead_letter_arn": dlq_arn, "dead_letters": DEAD_LETTERS,
            "dead_letters_sent": dead}


def seed_queue_metrics(cloudwatch: t.Any, now: datetime.datetime) -> dict[str, t.Any]:
    """ApproximateAgeOfOldestMessage a minute apart: 30 s while consumers ran, then growing a minute a minute."""
    end = now.replace(second=0, microsecond=0)
    ages = {}
    for minute in range(15):
        stopped_for = max(0, INCIDENT_MINUTES - minute)
        ages[minute] = 30.0 + 60.0 * stopped_for
        cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=[{
            "MetricName": "ApproximateAgeOfOldestMessage", "Dimensions": [{"Name": "QueueName", "Value": QUEUE}],
            "Timestamp": end - datetime.timedelta(minutes=minute), "Value": ages[minute], "Unit": "Seconds"}])
    return {"queue": QUEUE, "oldest_age_seconds": {"newest": ages[0], "before_incident": ages[INCIDENT_MINUTES]}}


def ensure_cache(elasticache: t.Any) -> dict[str, t.Any]:
    try:
        cluster = elasticache.describe_cache_clusters(CacheClusterId=CACHE_CLUSTER)["CacheClusters"][0]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "CacheClusterNotFound":
            raise
        cluster = elasticache.create_cache_cluster(
            CacheClusterId=CACHE_CLUSTER, CacheNodeType="cache.t3.micro", Engine="redis", EngineVersion="7.1",
            NumCacheNodes=1, Tags=tag(CACHE_CLUSTER),
        )["CacheCluster"]
    return {"cache_cluster_id": CACHE_CLUSTER, "status": cluster.get("CacheClusterStatus"),
            "node_type": cluster["CacheNodeType"], "engine": cluster["Engine"],
            "engine_version": cluster.get("EngineVersion")}


def dump(label: str, size: int) -> bytes:
    """Deterministic stand-in for a pg_dump file."""
    seed = hashlib.sha256(label.encode()).digest()
    return b"PGDMP" + (seed * (size // len(seed) + 1))[: max(0, size - 5)]


def put(s3: t.Any, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata or {})


def ensure_backups(s3: t.Any) -> None:
    try:
        s3.head_bucket(Bucket=BUCKET)
    except botocore.exceptions.ClientError:
        s3.create_bucket(Bucket=BUCKET)
    present = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    }
    sha = {"sha256": ""}
    # latest/: oldest first. The newest by time (hourly) is not the last by name (zz-weekly), which is
    # what `aws s3 ls` would show at the bottom.
    for name, size in (
        ("zz-incident_response-weekly.dump", 48 * 1024),
        ("incident_response-daily.dump", 40 * 1024),
        ("incident_response-hourly.dump", 32 * 1024),
    ):
        key = f"latest/{name}"
        if key not in present:
            body = dump(key, size)
            put(s3, key, body, {"sha256": hashlib.sha256(body).hexdigest()})
            time.sleep(1.1)  # LastModified has one-second resolution
    if "corrupt/incident_response-hourly.dump" not in present:
        # The recorded checksum is of the full dump; the object holds a cut-short copy.
        full = dump("corrupt", 32 * 1024)
        put(
            s3, "corrupt/incident_response-hourly.dump", full[: 20 * 1024], {"sha256": hashlib.sha256(full).hexdigest()}
        )
    if "empty/incident_response-hourly.dump" not in present:
        sha["sha256"] = hashlib.sha256(b"").hexdigest()
        put(s3, "empty/incident_response-hourly.dump", b"", sha)
    if "nometa/incident_response-hourly.dump" not in present:
        put(s3, "nometa/incident_response-hourly.dump", dump("nometa", 16 * 1024))
    if "multipart/incident_response-hourly.dump" not in present:
        key = "multipart/incident_response-hourly.dump"
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        parts = []
        for number, body in ((1, dump("mp1", 5 * 1024 * 1024)), (2, dump("mp2", 1024))):
            etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    archive = [f"archive/incident_response-{n:04d}.dump" for n in range(1, ARCHIVE_OBJECTS + 1)]
    if archive[-2] not in present:
        # All but the last two in parallel; then the last key by name, then the newest by time,
        # which sits on the second listing page without being the last key.
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda key: put(s3, key, dump(key, 256)), [k for k in archive[:-2] if k not in present]))
        time.sleep(1.1)
        put(s3, archive[-1], dump(archive[-1], 256))
        time.sleep(1.1)
        put(s3, archive[-2], dump(archive[-2], 256))


def describe_backups(s3: t.Any) -> dict[str, t.Any]:
    prefixes: dict[str, list[dict[str, t.Any]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            prefix = obj["Key"].split("/", 1)[0] + "/"
            prefixes.setdefault(prefix, []).append(
                {"key": obj["Key"], "last_modified": obj["LastModified"].isoformat(), "size": obj["Size"]}
            )
    summary = {}
    for prefix, objects in prefixes.items():
        newest = max(objects, key=lambda o: (o["last_modified"], o["key"]))
        summary[prefix] = {"count": len(objects), "newest": newest, "objects": objects if len(objects) <= 10 else None}
    return {"bucket": BUCKET, "prefixes": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--endpoint-url", required=True, help="the moto server, e.g. http://10.77.1.1:5000")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--now", help="ISO 8601 time for metric and log timestamps (default: now)")
    args = parser.parse_args(argv)
    host = urllib.parse.urlsplit(args.endpoint_url).hostname or ""
    if not host or host.endswith("amazonaws.com"):
        parser.error("--endpoint-url must be a moto server, never a real AWS endpoint")
    now = (
        datetime.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        if args.now
        else datetime.datetime.now(datetime.timezone.utc)
    )
    # Fixed dummy credentials: this script never uses whatever real ones the environment holds.
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=args.region
    )

    def client(service: str) -> t.Any:
        return session.client(service, endpoint_url=args.endpoint_url)

    ec2 = client("ec2")
    network = ensure_network(ec2)
    groups = ensure_security_groups(ec2, network["vpc_id"])
    summary = {
        "endpoint_url": args.endpoint_url,
        "region": args.region,
        "vpc_id": network["vpc_id"],
        "subnets": network["subnets"],
        "security_groups": groups,
        "instances": ensure_instances(ec2, network["subnets"], groups),
        "db_instance": ensure_database(client("rds"), network["subnets"], groups["db"]),
        "metrics": seed_metrics(client("cloudwatch"), now),
        "logs": seed_logs(client("logs"), now),
        "queues": ensure_queues(client("sqs")),
        "queue_metrics": seed_queue_metrics(client("cloudwatch"), now),
        "cache": ensure_cache(client("elasticache")),
    }
    s3 = client("s3")
    ensure_backups(s3)
    summary["backups"] = describe_backups(s3)
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
