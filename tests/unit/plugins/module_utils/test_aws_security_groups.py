# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Security-group reachability over hand-written DescribeSecurityGroups output; AWS errors via Stubber."""

from __future__ import annotations

import ipaddress
import typing as t

import pytest
from botocore.stub import Stubber

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _aws_security_groups as net
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    IncidentResponseError,
)

VPC = "vpc-0123"
ALL_OUT = [
    {
        "IpProtocol": "-1",
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        "Ipv6Ranges": [],
        "UserIdGroupPairs": [],
        "PrefixListIds": [],
    }
]


def rule(
    port: int | tuple[int, int] | None,
    *,
    cidr: str = "",
    group: str = "",
    prefix_list: str = "",
    protocol: str = "tcp",
    description: str | None = None,
) -> dict[str, t.Any]:
    low, high = (port, port) if isinstance(port, int) else (port or (None, None))
    entry: dict[str, t.Any] = {
        "IpProtocol": protocol,
        "IpRanges": [],
        "Ipv6Ranges": [],
        "UserIdGroupPairs": [],
        "PrefixListIds": [],
    }
    if low is not None:
        entry.update(FromPort=low, ToPort=high)
    extra = {"Description": description} if description else {}
    if cidr and ":" in cidr:
        entry["Ipv6Ranges"].append({"CidrIpv6": cidr, **extra})
    elif cidr:
        entry["IpRanges"].append({"CidrIp": cidr, **extra})
    if group:
        entry["UserIdGroupPairs"].append({"GroupId": group, **extra})
    if prefix_list:
        entry["PrefixListIds"].append({"PrefixListId": prefix_list})
    return entry


def group(
    gid: str, name: str, ingress: list[dict[str, t.Any]], egress: list[dict[str, t.Any]] | None = None, vpc: str = VPC
) -> dict[str, t.Any]:
    return {
        "GroupId": gid,
        "GroupName": name,
        "VpcId": vpc,
        "IpPermissions": ingress,
        "IpPermissionsEgress": ALL_OUT if egress is None else egress,
    }


APP = group("sg-app", "incident-response-app", [rule(8080, group="sg-alb")])
DB = group("sg-db", "incident-response-db", [rule(5432, group="sg-app", description="app to db")])
GROUPS = {g["GroupId"]: g for g in (APP, DB)}


def app_instance(*group_ids: str) -> net.Party:
    return net.Party(
        "instance", "i-app1 (10.0.1.4)", [ipaddress.ip_network("10.0.1.4/32")], list(group_ids or ["sg-app"]), VPC
    )


def db_target(*group_ids: str) -> net.Party:
    return net.Party("db_instance", "rds:incident-response-prod", [], list(group_ids or ["sg-db"]), VPC)


def cidr(text: str) -> net.Party:
    network = ipaddress.ip_network(text)
    return net.Party("cidr", str(network), [network])


def test_app_reaches_db_through_the_group_reference() -> None:
    finding, report = net.evaluate_reachability(app_instance(), db_target(), GROUPS, "tcp", 5432)
    assert report["reachable"] is True and finding.status == OK
    assert report["allowed_by"][0] == {
        "group_id": "sg-db",
        "group_name": "incident-response-db",
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        "peer": "sg-app",
        "description": "app to db",
    }
    assert report["egress_allowed_by"][0]["peer"] == "0.0.0.0/0"
    assert "allowed by sg-db (incident-response-db) tcp/5432 from sg-app" in finding.evidence


def test_a_cidr_cannot_use_a_group_rule_and_the_reason_says_so() -> None:
    finding, report = net.evaluate_reachability(cidr("10.0.9.9/32"), db_target(), GROUPS, "tcp", 5432)
    assert report["reachable"] is False and finding.status == CRITICAL
    assert "sg-db (incident-response-db) allows tcp/5432 only from sg-app" in report["reasons"]
    assert any("a CIDR source matches CIDR rules only" in r for r in report["reasons"])
    assert "Database Connection Errors" in finding.remediation


def test_expecting_unreachable_turns_the_verdict_around() -> None:
    blocked, _report = net.evaluate_reachability(cidr("0.0.0.0/0"), db_target(), GROUPS, "tcp", 5432, "unreachable")
    assert blocked.status == OK
    open_db = {"sg-db": group("sg-db", "db", [rule(5432, cidr="0.0.0.0/0")])}
    exposed, report = net.evaluate_reachability(cidr("198.51.100.7"), db_target(), open_db, "tcp", 5432, "unreachable")
    assert exposed.status == CRITICAL and report["allowed_by"][0]["peer"] == "0.0.0.0/0"


@pytest.mark.parametrize(
    "source, reachable, note",
    [
        ("10.0.1.0/25", True, None),
        ("10.0.1.77", True, None),
        ("10.0.0.0/16", False, "covers only part of 10.0.0.0/16"),
        ("192.168.0.1", False, "only from 10.0.1.0/24"),
    ],
)
def test_cidr_rules_must_contain_the_whole_source(source: str, reachable: bool, note: str | None) -> None:
    groups = {"sg-db": group("sg-db", "db", [rule(5432, cidr="10.0.1.0/24")])}
    _finding, report = net.evaluate_reachability(cidr(source), db_target(), groups, "tcp", 5432)
    assert report["reachable"] is reachable
    if note:
        assert any(note in reason for reason in report["reasons"]), report["reasons"]


@pytest.mark.parametrize(
    "ingress, protocol, port, reachable",
    [
        (rule((5000, 6000), group="sg-app"), "tcp", 5432, True),
        (rule((5000, 5431), group="sg-app"), "tcp", 5432, False),
        (rule(None, group="sg-app", protocol="-1"), "tcp", 5432, True),  # all traffic
        (rule(5432, group="sg-app", protocol="6"), "tcp", 5432, True),  # protocol by number
        (rule(5432, group="sg-app", protocol="udp"), "tcp", 5432, False),
        (rule(5432, group="sg-app", protocol="udp"), "udp", 5432, True),
    ],
)
def test_protocol_and_port_ranges(ingress: dict[str, t.Any], protocol: str, port: int, reachable: bool) -> None:
    groups = {"sg-app": APP, "sg-db": group("sg-db", "db", [ingress])}
    _finding, report = net.evaluate_reachability(app_instance(), db_target(), groups, protocol, port)
    assert report["reachable"] is reachable


def test_no_rule_on_the_port_at_all_is_said_plainly() -> None:
    _finding, report = net.evaluate_reachability(app_instance(), db_target(), GROUPS, "tcp", 6379)
    assert report["reasons"] == ["no inbound rule of sg-db (incident-response-db) covers tcp/6379"]


def test_locked_down_egress_blocks_the_path() -> None:
    locked = group("sg-batch", "batch", [], egress=[rule(443, cidr="0.0.0.0/0")])
    groups = {"sg-batch": locked, "sg-db": group("sg-db", "db", [rule(5432, group="sg-batch")])}
    finding, report = net.evaluate_reachability(app_instance("sg-batch"), db_target(), groups, "tcp", 5432)
    assert report["reachable"] is False and finding.status == CRITICAL
    assert report["allowed_by"] and not report["egress_allowed_by"]
    assert "no outbound rule of sg-batch (batch) lets tcp/5432 out to rds:incident-response-prod" in report["reasons"]


def test_egress_naming_the_target_group_lets_it_out() -> None:
    egress = group("sg-batch", "batch", [], egress=[rule(5432, group="sg-db")])
    groups = {"sg-batch": egress, "sg-db": group("sg-db", "db", [rule(5432, group="sg-batch")])}
    _finding, report = net.evaluate_reachability(app_instance("sg-batch"), db_target(), groups, "tcp", 5432)
    assert report["reachable"] is True and report["egress_allowed_by"][0]["peer"] == "sg-db"


def test_egress_to_a_narrow_cidr_is_undecided_rather_than_guessed() -> None:
    narrow = group("sg-batch", "batch", [], egress=[rule(5432, cidr="10.0.10.0/24")])
    groups = {"sg-batch": narrow, "sg-db": group("sg-db", "db", [rule(5432, group="sg-batch")])}
    finding, report = net.evaluate_reachability(app_instance("sg-batch"), db_target(), groups, "tcp", 5432)
    assert report["reachable"] is None and finding.status == UNKNOWN
    assert "whether that includes rds:incident-response-prod is not known" in report["reasons"][0]


def test_prefix_lists_and_other_vpcs_are_reported_not_evaluated() -> None:
    groups = {
        "sg-app": group("sg-app", "app", [], vpc="vpc-other"),
        "sg-db": group("sg-db", "db", [rule(5432, prefix_list="pl-0abc")]),
    }
    source = net.Party("security_group", "sg-app (app)", [], ["sg-app"], "vpc-other")
    _finding, report = net.evaluate_reachability(source, db_target(), groups, "tcp", 5432)
    assert any("prefix list pl-0abc, which is not evaluated" in r for r in report["reasons"])
    assert any("a route (peering or transit gateway) is needed" in r for r in report["reasons"])


def test_groups_not_described_are_a_bug_not_a_verdict() -> None:
    with pytest.raises(IncidentResponseError, match="sg-missing"):
        net.evaluate_reachability(app_instance(), db_target("sg-missing"), GROUPS, "tcp", 5432)


def test_database_ports_open_to_the_world_are_found() -> None:
    groups = [
        group("sg-alb", "alb", [rule(443, cidr="0.0.0.0/0"), rule(443, cidr="::/0")]),  # public HTTPS: fine
        group("sg-legacy", "legacy-db", [rule(5432, cidr="0.0.0.0/0", description="TEMPORARY")]),
        group("sg-v6", "cache", [rule(6379, cidr="::/0")]),
        group("sg-wide", "wide", [rule((0, 65535), cidr="0.0.0.0/0")]),
        group("sg-all", "all", [rule(None, cidr="0.0.0.0/0", protocol="-1")]),
        group("sg-office", "office", [rule(5432, cidr="203.0.113.0/24")]),
    ]
    exposed = net.open_to_world(groups)
    assert [(e["group_id"], e["peer"]) for e in exposed] == [
        ("sg-legacy", "0.0.0.0/0"),
        ("sg-v6", "::/0"),
        ("sg-wide", "0.0.0.0/0"),
        ("sg-all", "0.0.0.0/0"),
    ]
    assert exposed[0]["database_ports"] == [5432] and exposed[1]["database_ports"] == [6379]
    assert len(exposed[3]["database_ports"]) == len(net.DATABASE_PORTS)
    findings = net.exposure_findings(exposed, "vpc:vpc-0123", len(groups))
    assert {f.status for f in findings} == {CRITICAL}
    assert "(rule description: TEMPORARY)" in findings[0].evidence


def test_no_exposure_is_one_ok_finding() -> None:
    [finding] = net.exposure_findings([], "vpc:vpc-0123", 4)
    assert finding.status == OK and "in 4 security group(s)" in finding.evidence


def test_bad_cidr_is_refused() -> None:
    with pytest.raises(IncidentResponseError, match=r"source\.cidr must be an IP address or CIDR"):
        net.parse_network("10.0.0.300/24")


# --- AWS errors, stubbed ---------------------------------------------------------------


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> _aws.AwsSession:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return _aws.AwsSession(_aws.AwsSettings(region="eu-west-1", access_key="AKIDEXAMPLE", secret_key="not-secret"))


def stub(session: _aws.AwsSession, service: str) -> Stubber:
    stubber = Stubber(session.client(service))
    stubber.activate()
    return stubber


PARAMS = {"source": {"cidr": "10.0.1.4"}, "target": {"db_instance_identifier": "incident-response-prd"}}


def test_a_missing_target_is_critical_when_it_should_be_reachable(session: _aws.AwsSession) -> None:
    stub(session, "rds").add_client_error(
        "describe_db_instances", "DBInstanceNotFound", "DBInstance incident-response-prd not found.", 404
    )
    result = net.check_security_group_reachability(PARAMS, session)
    assert result["status"] == CRITICAL and result["reachable"] is None
    assert result["error"] == (
        "Failed to describe DB instance incident-response-prd in eu-west-1: not found: "
        "DBInstanceNotFound (DBInstance incident-response-prd not found.)"
    )


def test_unauthorized_describe_is_unknown(session: _aws.AwsSession) -> None:
    rds, ec2 = stub(session, "rds"), stub(session, "ec2")
    rds.add_response(
        "describe_db_instances",
        {
            "DBInstances": [
                {
                    "DBInstanceIdentifier": "incident-response-prd",
                    "Endpoint": {"Port": 5432},
                    "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0a1b2c3d", "Status": "active"}],
                    "DBSubnetGroup": {"VpcId": "vpc-0123"},
                }
            ]
        },
    )
    ec2.add_client_error(
        "describe_security_groups", "UnauthorizedOperation", "You are not authorized to perform this operation.", 403
    )
    result = net.check_security_group_reachability(PARAMS, session)
    assert result["status"] == UNKNOWN
    finding = result["findings"][0]
    assert (
        "describe security groups of vpc-0123 in eu-west-1: access denied: UnauthorizedOperation" in finding["evidence"]
    )
    assert "ec2:DescribeSecurityGroups" in finding["remediation"]


def test_an_ambiguous_group_name_asks_for_the_id(session: _aws.AwsSession) -> None:
    stub(session, "ec2").add_response(
        "describe_security_groups",
        {"SecurityGroups": [group("sg-1", "app", [], vpc="vpc-a"), group("sg-2", "app", [], vpc="vpc-b")]},
    )
    with pytest.raises(IncidentResponseError, match=r"matches 2 groups \(sg-1, sg-2\): use the group id"):
        net.find_group(session, "app", None)
