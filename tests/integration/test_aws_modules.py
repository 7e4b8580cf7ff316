# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS inspection modules, run by ansible-playbook against the lab's moto server.

The endpoint is the lab's (``services.moto`` in /var/lib/irlab/lab.json); set IRLAB_MOTO to a URL or
host:port to use another moto server instead. The account is seeded first by lab/seed_aws.py, which is
idempotent and prints what it created; the assertions use its ids.

Where moto fakes AWS, and what these tests therefore do not prove:
- CloudWatch Logs filter patterns: moto only implements plain terms that start with a letter and quoted
  phrases, as case-sensitive substrings. Any other pattern, the runbook's unquoted ``5xx`` included
  (it starts with a digit), matches every event. Exact counts are asserted for the quoted ``"5xx"``;
  the runbook's pattern is only shown to count every 5xx line (the real service would filter).
- moto ignores ``logStreamNamePrefix`` in FilterLogEvents, so searches are narrowed by stream names.
- CloudWatch percentiles: moto answers a ``p95`` query with HTTP 500. The tests show the module reports
  that as an ``unknown`` finding; the p95 request itself is tested with botocore's Stubber in unit tests.
  Latency thresholds are exercised here with ``Maximum``.
- RDS LatestRestorableTime is always "now" in moto, so the RPO rule on it is proven only in unit tests.
- S3 LastModified and snapshot times cannot be backdated on a moto server: ages are judged with the
  modules' ``as_of`` option relative to the real LastModified values (14:59 passes, 15:01 fails).
- Nothing here sends traffic outside the moto server: AWS_ENDPOINT_URL points every client at it even if
  a task forgot endpoint_url, and credentials are moto's dummy ones.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import typing as t
from pathlib import Path

import pytest

from conftest import LAB_FACTS, run

FQCN = "platform_eng.incident_response"
DB_ID = "incident-response-prod"
BUCKET = "backups-incident-response"
LOG_GROUP = "/aws/lambda/incident-response"


def moto_endpoint() -> str:
    override = os.environ.get("IRLAB_MOTO")
    if override:
        return override if "://" in override else f"http://{override}"
    if not LAB_FACTS.exists():
        pytest.fail("the lab is not up (no lab.json): run `make lab-up`, or set IRLAB_MOTO to a moto server")
    return f"http://{json.loads(LAB_FACTS.read_text())['services']['moto']}"


@pytest.fixture(scope="module")
def endpoint() -> str:
    return moto_endpoint()


@pytest.fixture(scope="module")
def aws_env(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    empty = tmp_path_factory.mktemp("aws")
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,  # the safety net: no client can reach real AWS
        "AWS_CONFIG_FILE": str(empty / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }


@pytest.fixture(scope="module")
def account(endpoint: str) -> dict[str, t.Any]:
    """Seed (or re-seed) the account; fresh metrics and log streams are written on every run."""
    seeded = run(sys.executable, "lab/seed_aws.py", "--endpoint-url", endpoint, timeout=300)
    assert seeded.rc == 0, seeded.text
    return json.loads(seeded.out)


def playbook(
    tmp_path: Path,
    aws_env: dict[str, str],
    tasks: list[dict[str, t.Any]],
    *extra: str,
    module_defaults: dict[str, t.Any] | None = None,
) -> list[dict[str, t.Any]]:
    """Run ``tasks`` on localhost with ansible-playbook; one result per task, in order."""
    play: dict[str, t.Any] = {
        "name": "Inspect the lab's AWS account",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": tasks,
    }
    if module_defaults:
        play["module_defaults"] = module_defaults
    path = tmp_path / "aws.yml"
    path.write_text(json.dumps([play], indent=2))  # JSON is YAML
    result = run("ansible-playbook", str(path), *extra, env=aws_env, timeout=600)
    try:
        report = json.loads(result.out)
    except json.JSONDecodeError:
        raise AssertionError(f"ansible-playbook did not print JSON (rc {result.rc}):\n{result.text}") from None
    results = [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]
    assert len(results) == len(tasks), result.text
    return results


def task(module: str, name: str, endpoint: str, ignore_errors: bool = False, **args: t.Any) -> dict[str, t.Any]:
    entry: dict[str, t.Any] = {
        "name": name,
        f"{FQCN}.{module}": dict(region="us-east-1", endpoint_url=endpoint, **args),
    }
    if ignore_errors:
        entry["ignore_errors"] = True
    return entry


def findings(result: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    return {
        f["name"] if f["name"] != "sg_open_to_world" else f"sg_open_to_world {f['target']}": f
        for f in result["findings"]
    }


def at(text: str, **delta: float) -> str:
    return (datetime.datetime.fromisoformat(text) + datetime.timedelta(**delta)).isoformat()


def test_module_defaults_for_the_group_reach_every_module_and_check_mode_changes_nothing(
    tmp_path: Path, aws_env: dict[str, str], endpoint: str, account: dict[str, t.Any]
) -> None:
    # The group's region is not the environment's: seeing it in every result proves module_defaults applied.
    defaults = {f"group/{FQCN}.aws": {"region": "us-west-2", "endpoint_url": endpoint, "retries": 0}}
    tasks = [
        {"name": "RDS", f"{FQCN}.rds_instance_health_info": {"db_instance_identifier": DB_ID}},
        {
            "name": "Reachability",
            f"{FQCN}.security_group_reachability_info": {
                "source": {"cidr": "10.0.1.4"},
                "target": {"db_instance_identifier": DB_ID},
            },
        },
        {"name": "Logs", f"{FQCN}.cloudwatch_logs_search_info": {"log_group_name": LOG_GROUP}},
        {
            "name": "Metrics",
            f"{FQCN}.cloudwatch_metric_info": {
                "metrics": [
                    {
                        "namespace": "AWS/RDS",
                        "metric_name": "CPUUtilization",
                        "dimensions": {"DBInstanceIdentifier": DB_ID},
                    }
                ]
            },
        },
        {"name": "Backups", f"{FQCN}.s3_backup_info": {"bucket": BUCKET}},
    ]
    results = playbook(
        tmp_path, dict(aws_env, AWS_DEFAULT_REGION="us-east-1"), tasks, "--check", module_defaults=defaults
    )
    for result in results:
        assert result["changed"] is False and not result.get("failed"), result
        assert result["region"] == "us-west-2", result
    # Nothing was seeded in us-west-2: the verdicts say so instead of crashing.
    assert results[0]["status"] == "critical" and "in us-west-2: not found" in results[0]["error"]
    assert results[2]["status"] == "unknown"


def test_rds_instance_health(tmp_path: Path, aws_env: dict[str, str], endpoint: str, account: dict[str, t.Any]) -> None:
    healthy, strained, missing = playbook(
        tmp_path,
        aws_env,
        [
            task(
                "rds_instance_health_info",
                "Judge the seeded instance",
                endpoint,
                db_instance_identifier=DB_ID,
                window_minutes=15,
            ),
            # The seeded CPU is 40-44 % and the peak 130 connections: lower thresholds must trip the rules.
            task(
                "rds_instance_health_info",
                "Judge it with tighter limits",
                endpoint,
                ignore_errors=True,
                db_instance_identifier=DB_ID,
                window_minutes=15,
                cpu_percent=40,
                max_connections=140,
                fail_on="critical",
            ),
            task(
                "rds_instance_health_info",
                "Judge a misspelt instance",
                endpoint,
                db_instance_identifier="incident-response-prd",
            ),
        ],
    )
    assert healthy["status"] == "ok", healthy["findings"]
    instance = healthy["db_instance"]
    assert (
        instance["instance_class"],
        instance["engine"],
        instance["engine_version"],
        instance["multi_az"],
        instance["allocated_storage_gib"],
    ) == ("db.t3.medium", "postgres", "15.4", True, 100)
    assert instance["vpc_security_group_ids"] == [account["security_groups"]["db"]]
    assert healthy["metrics"]["cpu_percent"]["max"] <= 44.0 and healthy["metrics"]["connections"]["max"] <= 130.0
    # The default parameter group has no value in moto: the engine default for db.t3.medium applies.
    assert healthy["max_connections"]["value"] == 450 and "engine default" in healthy["max_connections"]["source"]
    # moto: LatestRestorableTime is always "now"; this proves only that it is read and judged.
    assert findings(healthy)["rds_restorable_time"]["status"] == "ok"

    assert strained["failed"] is True and strained["changed"] is False
    rules = findings(strained)
    assert rules["rds_cpu"]["status"] == "critical" and "scale up database" in rules["rds_cpu"]["remediation"]
    assert rules["rds_connections"]["status"] == "critical"
    assert strained["msg"].startswith("RDS instance health is critical (fail_on=critical): 2 finding(s)")
    assert "rds:incident-response-prod rds_cpu critical" in strained["msg"]

    assert missing["status"] == "critical" and not missing.get("failed")
    assert missing["error"].startswith("Failed to describe DB instance incident-response-prd in us-east-1: not found")


def test_security_group_reachability(
    tmp_path: Path, aws_env: dict[str, str], endpoint: str, account: dict[str, t.Any]
) -> None:
    groups, instances = account["security_groups"], account["instances"]
    app1, office, internet, legacy, bastion, app2_eni = playbook(
        tmp_path,
        aws_env,
        [
            task(
                "security_group_reachability_info",
                "App host to database",
                endpoint,
                source={"instance_id": instances["app1"]["instance_id"]},
                target={"db_instance_identifier": DB_ID},
            ),
            task(
                "security_group_reachability_info",
                "Office range to database",
                endpoint,
                source={"cidr": "203.0.113.10"},
                target={"db_instance_identifier": DB_ID},
            ),
            task(
                "security_group_reachability_info",
                "Internet to database must be blocked",
                endpoint,
                source={"cidr": "0.0.0.0/0"},
                target={"db_instance_identifier": DB_ID},
                expect="unreachable",
            ),
            task(
                "security_group_reachability_info",
                "Internet to the legacy group",
                endpoint,
                source={"cidr": "198.51.100.7"},
                target={"security_group": groups["legacy_db"]},
                port=5432,
                audit_scope="target",
            ),
            task(
                "security_group_reachability_info",
                "Bastion group (by name) to database",
                endpoint,
                source={"security_group": "incident-response-bastion"},
                target={"db_instance_identifier": DB_ID},
            ),
            task(
                "security_group_reachability_info",
                "App2's network interface to database",
                endpoint,
                source={"eni_id": instances["app2"]["eni_id"]},
                target={"db_instance_identifier": DB_ID},
            ),
        ],
    )
    assert app1["reachable"] is True and app1["port"] == 5432
    rule = app1["allowed_by"][0]
    assert (rule["group_id"], rule["peer"], rule["from_port"]) == (groups["db"], groups["app"], 5432)
    assert findings(app1)["sg_reachability"]["status"] == "ok"
    # The audit flags the one dangerous rule, and not the load balancer's public HTTPS.
    exposed = app1["security_findings"]
    assert [(e["group_id"], e["peer"], e["database_ports"]) for e in exposed] == [
        (groups["legacy_db"], "0.0.0.0/0", [5432])
    ]
    assert app1["status"] == "critical"

    assert office["reachable"] is False and findings(office)["sg_reachability"]["status"] == "critical"
    assert any(f"only from {groups['app']}" in reason for reason in office["reasons"]), office["reasons"]

    assert internet["reachable"] is False and findings(internet)["sg_reachability"]["status"] == "ok"

    assert legacy["reachable"] is True and legacy["allowed_by"][0]["peer"] == "0.0.0.0/0"
    assert (
        findings(legacy)[f"sg_open_to_world {groups['legacy_db']} (incident-response-legacy-db)"]["status"]
        == "critical"
    )

    assert bastion["reachable"] is False and bastion["source"]["security_group_ids"] == [groups["bastion"]]
    assert app2_eni["reachable"] is True and app2_eni["source"]["addresses"] == [
        f"{instances['app2']['private_ip']}/32"
    ]


def test_cloudwatch_metrics(tmp_path: Path, aws_env: dict[str, str], endpoint: str, account: dict[str, t.Any]) -> None:
    alb = account["metrics"]["alb_dimensions"]
    [result] = playbook(
        tmp_path,
        aws_env,
        [
            task(
                "cloudwatch_metric_info",
                "The runbook's alerts from ALB-style metrics",
                endpoint,
                window_minutes=5,
                retries=0,
                metrics=[
                    {
                        "name": "error_rate",
                        "namespace": "AWS/ApplicationELB",
                        "metric_name": "HTTPCode_Target_5XX_Count",
                        "divide_by": "RequestCount",
                        "dimensions": alb,
                        "statistic": "Sum",
                        "multiplier": 100,
                        "unit": "%",
                        "critical_threshold": 5,
                    },
                    {
                        "name": "latency_max",
                        "namespace": "AWS/ApplicationELB",
                        "metric_name": "TargetResponseTime",
                        "dimensions": alb,
                        "statistic": "Maximum",
                        "multiplier": 1000,
                        "unit": "ms",
                        "critical_threshold": 500,
                    },
                    # moto fakes percentiles by failing: this shows only that the failure is reported.
                    {
                        "name": "latency_p95",
                        "namespace": "AWS/ApplicationELB",
                        "metric_name": "TargetResponseTime",
                        "dimensions": alb,
                        "statistic": "p95",
                        "multiplier": 1000,
                        "unit": "ms",
                        "critical_threshold": 500,
                    },
                    {
                        "name": "cpu",
                        "namespace": "AWS/RDS",
                        "metric_name": "CPUUtilization",
                        "dimensions": account["metrics"]["rds_dimensions"],
                        "statistic": "Average",
                        "critical_threshold": 80,
                    },
                    {
                        "name": "typo",
                        "namespace": "AWS/ApplicationELB",
                        "metric_name": "HTTPCode_Target_5xx_Count",
                        "dimensions": alb,
                        "statistic": "Sum",
                    },
                ],
            )
        ],
    )
    rules = findings(result)
    # The seeded 5xx ratio is 84 of 1200 requests a minute in the last 8 minutes.
    assert rules["error_rate"]["status"] == "critical" and rules["error_rate"]["value"] == 7.0
    report = result["metrics"][0]
    assert report["numerator"] / report["denominator"] == pytest.approx(0.07)
    assert rules["latency_max"]["status"] == "critical" and rules["latency_max"]["value"] == 650.0
    assert rules["latency_p95"]["status"] == "unknown" and "HTTP 500" in rules["latency_p95"]["evidence"]
    assert rules["cpu"]["status"] == "ok" and 40.0 <= rules["cpu"]["value"] <= 44.0
    assert rules["typo"]["status"] == "unknown" and "no datapoints" in rules["typo"]["evidence"]
    assert result["status"] == "critical" and result["changed"] is False


def test_cloudwatch_logs_search(
    tmp_path: Path, aws_env: dict[str, str], endpoint: str, account: dict[str, t.Any]
) -> None:
    streams = account["logs"]["streams"]
    names = sorted(streams)
    quoted, runbook, capped, missing = playbook(
        tmp_path,
        aws_env,
        [
            task(
                "cloudwatch_logs_search_info",
                "Count 5xx lines (quoted phrase)",
                endpoint,
                log_group_name=LOG_GROUP,
                filter_pattern='"5xx"',
                window_minutes=15,
                log_stream_names=names,
                page_size=7,
                sample_size=5,
            ),
            task(
                "cloudwatch_logs_search_info",
                "The runbook's filter",
                endpoint,
                log_group_name=LOG_GROUP,
                filter_pattern="5xx",
                window_minutes=15,
                log_stream_names=names,
            ),
            task(
                "cloudwatch_logs_search_info",
                "Stop at a cap",
                endpoint,
                log_group_name=LOG_GROUP,
                filter_pattern='"5xx"',
                window_minutes=15,
                log_stream_names=names,
                max_events=10,
                page_size=4,
                critical_threshold=100,
            ),
            task(
                "cloudwatch_logs_search_info",
                "A log group that does not exist",
                endpoint,
                log_group_name="/aws/lambda/incident-respons",
            ),
        ],
    )
    assert quoted["total_matches"] == account["logs"]["matches_5xx"] and quoted["truncated"] is False
    assert {s["log_stream_name"]: s["matches"] for s in quoted["streams"]} == {
        name: info["matches_5xx"] for name, info in streams.items()
    }
    assert quoted["pages"] > 1  # several pages of 7 events were read and added up
    assert len(quoted["sample"]) == 5 and all("5xx" in line["message"] for line in quoted["sample"])
    assert [line["timestamp"] for line in quoted["sample"]] == sorted(
        (line["timestamp"] for line in quoted["sample"]), reverse=True
    )

    # moto matches every event for a pattern starting with a digit; we claim only that no 5xx line is lost.
    assert runbook["total_matches"] >= account["logs"]["matches_5xx"]

    assert capped["truncated"] is True and capped["total_matches"] == 10
    assert capped["status"] == "unknown" and "at least 10 events" in capped["findings"][0]["evidence"]

    assert missing["status"] == "unknown" and missing["total_matches"] is None
    assert "not found: ResourceNotFoundException" in missing["error"]


def test_s3_backups_and_snapshots(
    tmp_path: Path, aws_env: dict[str, str], endpoint: str, account: dict[str, t.Any]
) -> None:
    prefixes = account["backups"]["prefixes"]
    newest = prefixes["latest/"]["newest"]
    snapshot = account["db_instance"]["automated_snapshots"][0]
    soon = {p: at(prefixes[p]["newest"]["last_modified"], minutes=1) for p in prefixes}
    results = playbook(
        tmp_path,
        aws_env,
        [
            task(
                "s3_backup_info",
                "Newest backup 14:59 old",
                endpoint,
                bucket=BUCKET,
                prefix="latest/",
                as_of=at(newest["last_modified"], minutes=14, seconds=59),
            ),
            task(
                "s3_backup_info",
                "Newest backup 15:01 old",
                endpoint,
                bucket=BUCKET,
                prefix="latest/",
                as_of=at(newest["last_modified"], minutes=15, seconds=1),
                fail_on="critical",
                ignore_errors=True,
            ),
            task(
                "s3_backup_info",
                "Before any backup",
                endpoint,
                bucket=BUCKET,
                prefix="latest/",
                as_of=at(prefixes["latest/"]["objects"][0]["last_modified"], seconds=-30),
            ),
            task(
                "s3_backup_info",
                "More than one page",
                endpoint,
                bucket=BUCKET,
                prefix="archive/",
                as_of=soon["archive/"],
                verify_integrity=False,
            ),
            task(
                "s3_backup_info",
                "Content cut short",
                endpoint,
                bucket=BUCKET,
                prefix="corrupt/",
                as_of=soon["corrupt/"],
            ),
            task("s3_backup_info", "Empty dump", endpoint, bucket=BUCKET, prefix="empty/", as_of=soon["empty/"]),
            task(
                "s3_backup_info",
                "No checksum, single part",
                endpoint,
                bucket=BUCKET,
                prefix="nometa/",
                as_of=soon["nometa/"],
            ),
            task(
                "s3_backup_info",
                "No checksum, multipart",
                endpoint,
                bucket=BUCKET,
                prefix="multipart/",
                as_of=soon["multipart/"],
            ),
            task(
                "s3_backup_info",
                "Snapshot an hour old",
                endpoint,
                bucket=BUCKET,
                prefix="latest/",
                verify_integrity=False,
                db_instance_identifier=DB_ID,
                as_of=at(snapshot["created"], hours=1),
            ),
            task(
                "s3_backup_info",
                "Snapshot a day and more old",
                endpoint,
                bucket=BUCKET,
                prefix="latest/",
                verify_integrity=False,
                db_instance_identifier=DB_ID,
                as_of=at(snapshot["created"], hours=26, minutes=1),
            ),
            task("s3_backup_info", "A bucket that does not exist", endpoint, bucket="backups-incident-respons"),
        ],
    )
    fresh, stale, none_yet, archive, corrupt, empty, nometa, multipart, snap_ok, snap_old, no_bucket = results

    assert fresh["status"] == "ok", fresh["findings"]
    # The newest by time, not the last by name (latest/zz-incident_response-weekly.dump).
    assert fresh["newest"]["key"] == "latest/incident_response-hourly.dump" == newest["key"]
    assert fresh["newest"]["age_seconds"] == 899.0
    assert fresh["integrity"]["method"] == "metadata_sha256" and fresh["integrity"]["verified"] is True

    assert stale["failed"] is True and findings(stale)["backup_age"]["status"] == "critical"
    assert stale["msg"].startswith("S3 backup is critical (fail_on=critical): 1 finding(s)")
    assert "s3://backups-incident-response/latest/ backup_age critical (15.02 minutes)" in stale["msg"]
    assert none_yet["newest"] is None and findings(none_yet)["backup_age"]["status"] == "critical"

    assert archive["objects_listed"] == 1005 and archive["newest"]["key"] == prefixes["archive/"]["newest"]["key"]
    assert archive["newest"]["key"] == "archive/incident_response-1004.dump"

    assert findings(corrupt)["backup_integrity"]["status"] == "critical" and corrupt["integrity"]["verified"] is False
    assert findings(empty)["backup_size"]["status"] == "critical"
    assert nometa["integrity"]["method"] == "etag_md5" and nometa["integrity"]["verified"] is True
    assert findings(multipart)["backup_integrity"]["status"] == "unknown"
    assert "multipart upload" in multipart["integrity"]["reason"]

    assert findings(snap_ok)["rds_snapshot_age"]["status"] == "ok"
    assert snap_ok["snapshot"]["identifier"] == snapshot["identifier"]
    assert findings(snap_old)["rds_snapshot_age"]["status"] == "critical"

    assert no_bucket["status"] == "critical" and "NoSuchBucket" in no_bucket["error"]
