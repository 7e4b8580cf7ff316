# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's queue, cache and endpoints against the lab: each condition made for real, then read back.

- SQS: lab/seed_aws.py leaves incident-response-jobs with a backlog of 1500 messages and 3 in its
  dead-letter queue; diagnose names both and gives the redrive command.
- ElastiCache: the seeded cluster incident-response-cache is judged against the used_memory of the lab's
  real Redis (the report joins the two); a cluster deleted in moto stays "deleting", which is critical.
- /docs: the sample service answers 404 on /docs while /etc/incident-response/docs.disabled exists on its
  host; health.yml and diagnose name the missing path as a warning, never an outage.

What moto does not model, so what these tests do not prove: it publishes no SQS metrics (the seed puts the
ApproximateAgeOfOldestMessage datapoints, so the age is the seed's, and a drained queue would keep its
seeded age); its ElastiCache returns no node details (elasticache_node is "unknown" here), keeps a deleted
cluster in "deleting" for good, and does not list a replication group's members. The lab's Redis is not an
ElastiCache node: the memory join is real, the node it is compared with is the seed's cache.t3.micro.

Every fault is undone before the test ends (the docs switch removed, the throwaway cluster left to moto's
next restart under a name nothing else uses, the incident store and deliveries cleared).
"""

from __future__ import annotations

import json
import secrets
import sys
import typing as t

import boto3
import pytest

from conftest import lab_ssh, run
from test_aws_modules import FQCN, playbook
from test_diagnose import AWS_ENV, diagnose, problems
from test_incident import STORE, delivered, forget_deliveries, incident, opened_id

# isort: split
# Fixtures: pytest finds them by name in this module, so they look unused (and redefined by the tests'
# parameters: F811 below).
from test_diagnose import clean_lab, reports  # noqa: F401 pylint: disable=unused-import

QUEUE = "sqs:incident-response-jobs"
CACHE = "elasticache:incident-response-cache"
DOCS_SWITCH = "/etc/incident-response/docs.disabled"
GRAFANA = "https://grafana.example.com/d/incident-response"


@pytest.fixture(scope="module")
def moto_url(lab: dict[str, t.Any]) -> str:
    return f"http://{lab['services']['moto']}"


@pytest.fixture(scope="module")
def seeded(moto_url: str) -> dict[str, t.Any]:
    """The account as lab/seed_aws.py makes it; its metrics are fresh for the next minutes."""
    result = run(sys.executable, "lab/seed_aws.py", "--endpoint-url", moto_url, timeout=300, env=AWS_ENV)
    assert result.rc == 0, result.text
    return json.loads(result.out)


def rows(report: dict[str, t.Any]) -> dict[tuple[str, str], dict[str, t.Any]]:
    return {(r["check"], r["target"]): r for severity in report["findings"].values() for r in severity}


# --- SQS --------------------------------------------------------------------------------------------------------


def test_the_seeded_backlog_and_dead_letters_are_named_with_the_redrive_command(lab, seeded, clean_lab, reports):  # noqa: F811
    dlq_arn = seeded["queues"]["dead_letter_arn"]

    report, markdown, result = diagnose("high_error_rate", reports, aws=True)

    assert result.rc == 0, result.text
    found = rows(report)
    depth = found[("sqs_depth", QUEUE)]
    assert (depth["severity"], depth["value"], depth["host"]) == ("warn", 1500, "localhost")
    dead = found[("sqs_dlq_depth", QUEUE)]
    assert (dead["severity"], dead["value"]) == ("warn", 3) and dlq_arn in dead["evidence"]
    # The seed's age grows a minute a minute since the 5xx spike began: 8.5 min old now, 7.5 a minute ago.
    age = found[("sqs_oldest_age", QUEUE)]
    assert age["severity"] == "warn" and 300 < age["value"] <= 900, age
    backlog = next(r for r in report["recommendations"] if r["id"] == "queue_backlog")
    assert backlog["command"] == f"aws sqs start-message-move-task --source-arn {dlq_arn}"
    assert "incident-response-jobs is backing up and 3 messages are in its dead-letter queue" in backlog["summary"]
    # What a person reads: the queue, its dead-letter queue and the command, in the Markdown and on the console.
    assert "incident-response-jobs-dlq" in markdown and backlog["command"] in markdown
    assert "backing up" in result.out
    # And the runbook's dashboards to click, in the report and its Markdown.
    assert report["dashboards"]["Grafana"] == GRAFANA and f"[Grafana]({GRAFANA})" in markdown


def test_the_check_only_reads_the_queue(lab, seeded, moto_url, clean_lab, reports):  # noqa: F811
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    url = sqs.get_queue_url(QueueName="incident-response-jobs")["QueueUrl"]

    def counts() -> tuple[str, str]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]

    before = counts()
    _report, _markdown, result = diagnose("high_latency", reports, aws=True)
    assert result.rc == 0, result.text
    # No message was received: none became invisible, none moved towards the dead-letter queue.
    assert counts() == before == ("1500", "0")


# --- ElastiCache ------------------------------------------------------------------------------------------------


def test_the_seeded_cache_is_judged_against_the_lab_redis_used_memory(lab, seeded, clean_lab, reports):  # noqa: F811
    report, markdown, result = diagnose("high_latency", reports, aws=True)

    assert result.rc == 0, result.text
    found = rows(report)
    memory = found[("elasticache_memory", CACHE)]
    # The lab's Redis holds a few MiB: well inside a cache.t3.micro's 0.5 GiB, but measured, not unknown.
    assert memory["severity"] == "ok" and 0 < memory["value"] < 75, memory
    assert "Redis INFO from bastion" in memory["evidence"] and "cache.t3.micro" in memory["evidence"]
    assert found[("elasticache_status", CACHE)]["value"] == "available"
    assert found[("elasticache_engine_version", CACHE)]["severity"] == "ok"
    # moto returns no node details: said as "could not tell", never passed as ok.
    node = found[("elasticache_node", f"{CACHE}/incident-response-cache")]
    assert node["severity"] == "unknown" and "no CacheNodes" in node["evidence"]
    assert f"{CACHE}/incident-response-cache" in markdown  # under "Could not check", with why


def test_a_cache_cluster_aws_reports_as_deleting_is_critical(lab, seeded, moto_url, tmp_path):
    # A throwaway name: moto keeps a deleted cluster in "deleting" until it restarts, so never the seeded one.
    cluster = f"ir-test-{secrets.token_hex(3)}"
    elasticache = boto3.client("elasticache", endpoint_url=moto_url, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
    elasticache.create_cache_cluster(CacheClusterId=cluster, CacheNodeType="cache.t3.micro", Engine="redis",
                                     EngineVersion="7.1", NumCacheNodes=1)
    elasticache.delete_cache_cluster(CacheClusterId=cluster)
    env = {**AWS_ENV, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}

    (result,) = playbook(tmp_path, env, [{
        "name": "Judge the deleted cluster",
        f"{FQCN}.elasticache_cluster_health_info": {"cache_cluster_id": cluster, "region": "us-east-1",
                                                    "endpoint_url": moto_url, "fail_on": "critical"},
        "ignore_errors": True}])

    assert result["failed"] is True and result["status"] == "critical"
    status = next(f for f in result["findings"] if f["name"] == "elasticache_status")
    assert status["value"] == "deleting" and "not available" in status["remediation"]
    assert result["msg"].startswith("ElastiCache health is critical (fail_on=critical)")


# --- /docs ------------------------------------------------------------------------------------------------------


@pytest.fixture
def docs_off(lab: dict[str, t.Any]) -> t.Iterator[str]:
    """/docs taken away on the last app host; the service keeps running and /health stays green."""
    host = lab["app_hosts"][-1]["name"]
    lab_ssh(host, f"touch {DOCS_SWITCH}")
    try:
        yield host
    finally:
        lab_ssh(host, f"rm -f {DOCS_SWITCH}")


def test_a_missing_docs_page_is_a_warning_named_by_health_and_not_a_failure(lab, clean_lab, docs_off):  # noqa: F811
    result = run("ansible-playbook", "playbooks/health.yml")

    # The default fail_on is critical: missing docs are worth a look, not a failed run or a page.
    assert result.rc == 0, result.text
    assert f"Service health: WARN on {len(lab['app_hosts'])} host(s)" in result.out
    text = " ".join(result.out.split())  # the callback wraps long findings over several lines
    finding = text[text.index(f"[warn] {docs_off} /docs http_status"):][:400]
    assert "= 404" in finding and "not on /docs" in finding, finding
    healthy = lab["app_hosts"][0]["name"]
    assert f"{healthy} /docs" not in result.out and f"[warn] {docs_off} /metrics" not in result.out
    assert "[critical]" not in result.out

    # The docs back (no restart: the service looks for the switch on every request): all clear again.
    lab_ssh(docs_off, f"rm -f {DOCS_SWITCH}")
    again = run("ansible-playbook", "playbooks/health.yml")
    assert again.rc == 0, again.text
    assert f"Service health: OK on {len(lab['app_hosts'])} host(s)" in again.out


def test_diagnose_names_the_missing_docs_and_blames_no_release(lab, clean_lab, docs_off, reports):  # noqa: F811
    report, markdown, result = diagnose("service_wont_start", reports)

    assert result.rc == 0, result.text
    docs = rows(report)[("http_status", f"{docs_off} /docs")]
    assert (docs["severity"], docs["value"], docs["source"]) == ("warn", 404, "http")
    assert f"{docs_off} /docs" in markdown
    assert all(r["id"] != "rollback" for r in report["recommendations"])
    assert not [r for r in problems(report) if r["severity"] == "critical"], problems(report)


# --- dashboards where a person clicks -----------------------------------------------------------------------


def test_a_p4_ticket_links_the_dashboards(lab):
    lab_ssh("bastion", f"rm -rf {STORE}")
    forget_deliveries(lab)
    try:
        opened_id(incident("action=open", "severity=P4", "title=Docs_page_missing"))
        (ticket,) = delivered(lab)["ticket"]
        description = ticket["fields"]["description"]
        assert f"Grafana: {GRAFANA}" in description and "CloudWatch: https://console.aws.amazon.com/" in description
    finally:
        lab_ssh("bastion", f"rm -rf {STORE}")
        forget_deliveries(lab)
