# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Security-group reachability: can this source open a connection to that target on a port?

The evaluator is pure functions over DescribeSecurityGroups output, with the
rules AWS applies: a connection is allowed when some inbound rule of some
security group of the target matches the protocol, the port and the source
(a CIDR that contains the source's address, or a group the source belongs
to), and some outbound rule of the source's groups lets it leave. Security
groups are stateful, so replies need no rule. Network ACLs, route tables and
host firewalls are not evaluated: "allowed" here means "not blocked by a
security group".
"""

from __future__ import annotations

import dataclasses
import ipaddress
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    NOT_FOUND,
    AwsCallError,
    AwsProblem,
    AwsSession,
    AwsSettings,
    call,
    paginate,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    OK,
    UNKNOWN,
    Finding,
    IncidentResponseError,
    summarize,
)

ANY_IPV4 = ipaddress.ip_network("0.0.0.0/0")
ANY_IPV6 = ipaddress.ip_network("::/0")
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1"}
DATABASE_PORTS = (5432, 3306, 1433, 1521, 6379, 27017, 5439, 9042, 11211)

REMEDIATION_BLOCKED = (
    "Runbook 'Database Connection Errors', step 2: add an inbound rule on the target's "
    "security group that names the source's security group (not a CIDR), on this port only."
)
REMEDIATION_OPEN = (
    "A database port is open to the whole internet: replace the 0.0.0.0/0 or ::/0 rule with one "
    "that names the application's security group, then look for connections that came from "
    "outside (database logs, VPC flow logs)."
)
REMEDIATION_UNEXPECTED = (
    "The source can reach the target although it should not: remove or narrow the rule in allowed_by."
)

Network = t.Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclasses.dataclass
class Party:
    """A source or target, reduced to what security groups look at."""

    kind: str  # cidr | security_group | instance | eni | db_instance
    label: str
    networks: list[Network] = dataclasses.field(default_factory=list)
    group_ids: list[str] = dataclasses.field(default_factory=list)
    vpc_id: str | None = None

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "addresses": [str(n) for n in self.networks],
            "security_group_ids": self.group_ids,
            "vpc_id": self.vpc_id,
        }


def parse_network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise IncidentResponseError(
            f"source.cidr must be an IP address or CIDR such as 10.0.1.0/24, got {text!r}"
        ) from None


def protocol_matches(rule_protocol: str, protocol: str) -> bool:
    rule_protocol = str(rule_protocol).lower()
    return rule_protocol in ("-1", "all", protocol, PROTOCOL_NUMBERS.get(protocol, protocol))


def port_matches(rule: t.Mapping[str, t.Any], protocol: str, port: int) -> bool:
    """The rule covers ``protocol``/``port`` (all-traffic rules and rules without ports cover every port)."""
    if not protocol_matches(rule.get("IpProtocol", ""), protocol):
        return False
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if low is None or high is None or str(rule.get("IpProtocol")) == "-1" or (low == -1 and high == -1):
        return True
    return int(low) <= port <= int(high)


def _rule_text(rule: t.Mapping[str, t.Any]) -> str:
    proto = str(rule.get("IpProtocol"))
    if proto == "-1":
        return "all traffic"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    ports = f"{low}" if low == high else f"{low}-{high}"
    return f"{proto}/{ports}"


def _peers(rule: t.Mapping[str, t.Any]) -> t.Iterator[tuple[str, str, str | None]]:
    """(kind, value, description) for every peer a rule names: cidr, security_group or prefix_list."""
    for entry in rule.get("IpRanges", []):
        yield "cidr", entry["CidrIp"], entry.get("Description")
    for entry in rule.get("Ipv6Ranges", []):
        yield "cidr", entry["CidrIpv6"], entry.get("Description")
    for entry in rule.get("UserIdGroupPairs", []):
        yield "security_group", entry["GroupId"], entry.get("Description")
    for entry in rule.get("PrefixListIds", []):
        yield "prefix_list", entry["PrefixListId"], entry.get("Description")


def _allowing(
    group: t.Mapping[str, t.Any], rule: t.Mapping[str, t.Any], peer: str, description: str | None, direction: str
) -> dict[str, t.Any]:
    return {
        "group_id": group["GroupId"],
        "group_name": group.get("GroupName"),
        "direction": direction,
        "protocol": str(rule.get("IpProtocol")),
        "from_port": rule.get("FromPort"),
        "to_port": rule.get("ToPort"),
        "peer": peer,
        "description": description,
    }


def _group_label(group: t.Mapping[str, t.Any]) -> str:
    return f"{group['GroupId']} ({group.get('GroupName', '?')})"


def match_ingress(
    groups: t.Sequence[t.Mapping[str, t.Any]], source: Party, protocol: str, port: int
) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Rules of ``groups`` that let ``source`` in on ``protocol``/``port``, and why the others do not."""
    allowed: list[dict[str, t.Any]] = []
    notes: list[str] = []
    covering = 0
    names_groups = False
    for group in groups:
        for rule in group.get("IpPermissions", []):
            if not port_matches(rule, protocol, port):
                continue
            covering += 1
            before = len(allowed)
            peers = []
            for kind, value, description in _peers(rule):
                peers.append(value)
                if kind == "cidr":
                    network = ipaddress.ip_network(value, strict=False)
                    same = [n for n in source.networks if n.version == network.version]
                    if same and all(n.subnet_of(network) for n in same):  # type: ignore[arg-type]
                        allowed.append(_allowing(group, rule, value, description, "ingress"))
                    elif any(n.overlaps(network) for n in same):
                        notes.append(
                            f"{_group_label(group)} allows {_rule_text(rule)} from {value}, "
                            f"which covers only part of {source.label}"
                        )
                elif kind == "security_group":
                    names_groups = True
                    if value in source.group_ids:
                        allowed.append(_allowing(group, rule, value, description, "ingress"))
                else:
                    notes.append(
                        f"{_group_label(group)} allows {_rule_text(rule)} from prefix list {value}, "
                        "which is not evaluated"
                    )
            if len(allowed) == before:
                notes.append(
                    f"{_group_label(group)} allows {_rule_text(rule)} only from {', '.join(peers) or 'nobody'}"
                )
    if covering == 0:
        names = ", ".join(_group_label(g) for g in groups) or "no security group"
        notes.append(f"no inbound rule of {names} covers {protocol}/{port}")
    if source.kind == "cidr" and names_groups and not allowed:
        notes.append(
            "a CIDR source matches CIDR rules only: to test a rule that names a security group, "
            "give an instance, ENI or security group as the source"
        )
    return allowed, notes


def match_egress(
    groups: t.Sequence[t.Mapping[str, t.Any]], target: Party, protocol: str, port: int
) -> tuple[list[dict[str, t.Any]], bool, list[str]]:
    """Outbound rules of the source's groups that let traffic to the target leave.

    Returns (rules, decided, notes). The target's addresses are often not
    known (an RDS endpoint moves on failover), so only rules open to every
    address or naming a target group decide; a narrower CIDR rule leaves
    the answer undecided rather than guessed.
    """
    allowed: list[dict[str, t.Any]] = []
    undecided: list[str] = []
    for group in groups:
        for rule in group.get("IpPermissionsEgress", []):
            if not port_matches(rule, protocol, port):
                continue
            for kind, value, description in _peers(rule):
                if kind == "cidr":
                    network = ipaddress.ip_network(value, strict=False)
                    if network in (ANY_IPV4, ANY_IPV6) or any(
                        n.version == network.version and n.subnet_of(network)  # type: ignore[arg-type]
                        for n in target.networks
                    ):
                        allowed.append(_allowing(group, rule, value, description, "egress"))
                    elif not target.networks:
                        undecided.append(f"{_group_label(group)} allows {_rule_text(rule)} out to {value}")
                elif kind == "security_group" and value in target.group_ids:
                    allowed.append(_allowing(group, rule, value, description, "egress"))
                elif kind == "prefix_list":
                    undecided.append(f"{_group_label(group)} allows {_rule_text(rule)} out to prefix list {value}")
    if allowed:
        return allowed, True, []
    if undecided:
        return [], False, [f"{note}; whether that includes {target.label} is not known" for note in undecided]
    names = ", ".join(_group_label(g) for g in groups)
    return [], True, [f"no outbound rule of {names} lets {protocol}/{port} out to {target.label}"]


def evaluate_reachability(
    source: Party,
    target: Party,
    groups: t.Mapping[str, t.Mapping[str, t.Any]],
    protocol: str,
    port: int,
    expect: str = "reachable",
) -> tuple[Finding, dict[str, t.Any]]:
    """The verdict for one source, target and port, from the security groups in ``groups`` (by id)."""
    missing = [gid for gid in target.group_ids + source.group_ids if gid not in groups]
    if missing:
        raise IncidentResponseError(f"security groups {', '.join(missing)} were not described")
    ingress, notes = match_ingress([groups[g] for g in target.group_ids], source, protocol, port)
    egress: list[dict[str, t.Any]] = []
    egress_decided = True
    if source.kind == "cidr":
        notes.append("outbound rules were not evaluated: a CIDR source has no security group")
    elif ingress:
        egress, egress_decided, egress_notes = match_egress(
            [groups[g] for g in source.group_ids], target, protocol, port
        )
        notes += egress_notes
    if not ingress:
        reachable: bool | None = False
    elif egress or source.kind == "cidr":
        reachable = True
    else:
        reachable = None if not egress_decided else False
    if source.vpc_id and target.vpc_id and source.vpc_id != target.vpc_id:
        notes.append(
            f"source is in {source.vpc_id} and target in {target.vpc_id}: a route (peering or "
            "transit gateway) is needed as well, and is not evaluated"
        )
    expected = expect == "reachable"
    if reachable is None:
        status = UNKNOWN
    else:
        status = OK if reachable == expected else CRITICAL
    word = {True: "can reach", False: "cannot reach", None: "may reach"}[reachable]
    evidence = f"{source.label} {word} {target.label} on {protocol}/{port}"
    if ingress:
        first = ingress[0]
        evidence += f" (allowed by {first['group_id']} ({first['group_name']}) {protocol}/{port} from {first['peer']})"
    elif notes:
        evidence += f": {notes[0]}"
    remediation = None
    if status == CRITICAL:
        remediation = REMEDIATION_BLOCKED if expected else REMEDIATION_UNEXPECTED
    finding = Finding(
        "sg_reachability",
        f"{source.label} -> {target.label}:{port}",
        status,
        reachable,
        expect,
        None,
        evidence,
        remediation,
    )
    report = {
        "reachable": reachable,
        "allowed_by": ingress,
        "egress_allowed_by": egress,
        "reasons": notes,
        "source": source.as_dict(),
        "target": target.as_dict(),
        "protocol": protocol,
        "port": port,
    }
    return finding, report


def open_to_world(
    groups: t.Iterable[t.Mapping[str, t.Any]], ports: t.Sequence[int] = DATABASE_PORTS
) -> list[dict[str, t.Any]]:
    """Inbound rules that open a database port to 0.0.0.0/0 or ::/0 (all-traffic rules included)."""
    exposed = []
    for group in groups:
        for rule in group.get("IpPermissions", []):
            for kind, value, description in _peers(rule):
                if kind != "cidr" or ipaddress.ip_network(value, strict=False) not in (ANY_IPV4, ANY_IPV6):
                    continue
                hit = [p for p in ports if port_matches(rule, "tcp", p)]
                if hit:
                    row = _allowing(group, rule, value, description, "ingress")
                    row["database_ports"] = hit
                    exposed.append(row)
    return exposed


def exposure_findings(exposed: t.Sequence[t.Mapping[str, t.Any]], scope: str, audited: int) -> list[Finding]:
    if not exposed:
        return [
            Finding(
                "sg_open_to_world",
                scope,
                OK,
                0,
                0,
                "rules",
                f"no database port is open to 0.0.0.0/0 or ::/0 in {audited} security group(s)",
            )
        ]
    findings = []
    for row in exposed:
        ports = ", ".join(str(p) for p in row["database_ports"])
        rule = "all traffic" if row["protocol"] == "-1" else f"{row['protocol']}/{row['from_port']}-{row['to_port']}"
        findings.append(
            Finding(
                "sg_open_to_world",
                f"{row['group_id']} ({row['group_name']})",
                CRITICAL,
                row["peer"],
                "no rule",
                None,
                f"{rule} open to {row['peer']} covers database port(s) {ports}"
                + (f" (rule description: {row['description']})" if row.get("description") else ""),
                REMEDIATION_OPEN,
            )
        )
    return findings


# --- describing the parties (the only part that calls AWS) ---------------------


def find_group(session: AwsSession, ref: str, vpc_id: str | None) -> dict[str, t.Any]:
    """A security group by id (sg-...) or by name (within ``vpc_id`` when known)."""
    if ref.startswith("sg-"):
        groups = call(
            session,
            "ec2",
            "describe_security_groups",
            "describe security group",
            ref,
            "ec2:DescribeSecurityGroups",
            GroupIds=[ref],
        )["SecurityGroups"]
    else:
        filters = [{"Name": "group-name", "Values": [ref]}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        groups = [
            g
            for page in paginate(
                session,
                "ec2",
                "describe_security_groups",
                "find security group",
                ref,
                "ec2:DescribeSecurityGroups",
                Filters=filters,
            )
            for g in page["SecurityGroups"]
        ]
    if not groups:
        where = f" in {vpc_id}" if vpc_id else ""
        raise AwsCallError(
            AwsProblem(
                NOT_FOUND,
                "InvalidGroup.NotFound",
                f"Failed to find security group {ref}{where} in {session.region}: not found",
                "ec2:DescribeSecurityGroups",
                ref,
                session.region,
            )
        )
    if len(groups) > 1:
        raise IncidentResponseError(
            f"security group name {ref!r} matches {len(groups)} groups "
            f"({', '.join(g['GroupId'] for g in groups)}): use the group id"
        )
    return groups[0]


def _interface_party(kind: str, label: str, interfaces: t.Iterable[t.Mapping[str, t.Any]]) -> Party:
    party = Party(kind, label)
    for eni in interfaces:
        party.vpc_id = party.vpc_id or eni.get("VpcId")
        for group in eni.get("Groups", []):
            if group["GroupId"] not in party.group_ids:
                party.group_ids.append(group["GroupId"])
        for address in eni.get("PrivateIpAddresses", []):
            party.networks.append(ipaddress.ip_network(address["PrivateIpAddress"]))
        for address in eni.get("Ipv6Addresses", []):
            party.networks.append(ipaddress.ip_network(address["Ipv6Address"]))
    return party


def resolve_target(session: AwsSession, spec: t.Mapping[str, t.Any]) -> tuple[Party, int | None]:
    """The target's security groups (and, for an RDS instance, its port)."""
    if spec.get("db_instance_identifier"):
        ident = spec["db_instance_identifier"]
        instance = call(
            session,
            "rds",
            "describe_db_instances",
            "describe DB instance",
            ident,
            "rds:DescribeDBInstances",
            DBInstanceIdentifier=ident,
        )["DBInstances"][0]
        ids = [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", []) if g.get("Status") != "removing"]
        vpc = (instance.get("DBSubnetGroup") or {}).get("VpcId")
        return Party("db_instance", f"rds:{ident}", [], ids, vpc), (instance.get("Endpoint") or {}).get("Port")
    group = find_group(session, spec["security_group"], None)
    return Party("security_group", _group_label(group), [], [group["GroupId"]], group.get("VpcId")), None


def resolve_source(session: AwsSession, spec: t.Mapping[str, t.Any], vpc_id: str | None) -> Party:
    if spec.get("cidr"):
        network = parse_network(spec["cidr"])
        return Party("cidr", str(network), [network])
    if spec.get("security_group"):
        group = find_group(session, spec["security_group"], vpc_id)
        return Party("security_group", _group_label(group), [], [group["GroupId"]], group.get("VpcId"))
    if spec.get("instance_id"):
        ident = spec["instance_id"]
        reservations = call(
            session,
            "ec2",
            "describe_instances",
            "describe instance",
            ident,
            "ec2:DescribeInstances",
            InstanceIds=[ident],
        )["Reservations"]
        instance = reservations[0]["Instances"][0]
        label = f"{ident} ({instance.get('PrivateIpAddress', 'no private IP')})"
        return _interface_party("instance", label, instance.get("NetworkInterfaces", []))
    ident = spec["eni_id"]
    interfaces = call(
        session,
        "ec2",
        "describe_network_interfaces",
        "describe network interface",
        ident,
        "ec2:DescribeNetworkInterfaces",
        NetworkInterfaceIds=[ident],
    )["NetworkInterfaces"]
    return _interface_party("eni", f"{ident} ({interfaces[0].get('PrivateIpAddress', '?')})", interfaces)


def describe_groups(session: AwsSession, ids: t.Iterable[str], vpc_ids: t.Iterable[str]) -> dict[str, dict[str, t.Any]]:
    """Every group named in ``ids`` plus every group of ``vpc_ids`` (for the open-to-world audit)."""
    found: dict[str, dict[str, t.Any]] = {}
    for vpc in sorted(set(vpc_ids)):
        for page in paginate(
            session,
            "ec2",
            "describe_security_groups",
            "describe security groups of",
            vpc,
            "ec2:DescribeSecurityGroups",
            Filters=[{"Name": "vpc-id", "Values": [vpc]}],
        ):
            found.update({g["GroupId"]: g for g in page["SecurityGroups"]})
    wanted = sorted(set(ids) - set(found))
    if wanted:
        for page in paginate(
            session,
            "ec2",
            "describe_security_groups",
            "describe security groups",
            ", ".join(wanted),
            "ec2:DescribeSecurityGroups",
            GroupIds=wanted,
        ):
            found.update({g["GroupId"]: g for g in page["SecurityGroups"]})
    return found


def _spec_label(spec: t.Mapping[str, t.Any] | None) -> str:
    return next((str(value) for value in (spec or {}).values() if value), "?")


def check_security_group_reachability(params: t.Mapping[str, t.Any], session: AwsSession | None = None) -> dict[str, t.Any]:
    session = session or AwsSession(AwsSettings.from_params(params))
    protocol = params.get("protocol") or "tcp"
    expect = params.get("expect") or "reachable"
    scope = params.get("audit_scope") or "vpc"
    ports = tuple(params.get("database_ports") or DATABASE_PORTS)
    label = f"{_spec_label(params.get('source'))} -> {_spec_label(params.get('target'))}"
    result: dict[str, t.Any] = {
        "reachable": None,
        "allowed_by": [],
        "egress_allowed_by": [],
        "reasons": [],
        "security_findings": [],
        "region": session.region,
    }
    try:
        target, default_port = resolve_target(session, params["target"])
        source = resolve_source(session, params["source"], target.vpc_id)
        port = params.get("port") or default_port
        if not port:
            raise IncidentResponseError("port is required unless the target is an RDS instance")
        audit_vpcs = [target.vpc_id] if scope == "vpc" and target.vpc_id else []
        groups = describe_groups(session, target.group_ids + source.group_ids, audit_vpcs)
    except AwsCallError as exc:
        status = CRITICAL if exc.problem.kind == NOT_FOUND and expect == "reachable" else UNKNOWN
        finding = Finding(
            "sg_reachability", label, status, None, expect, None, exc.problem.message, exc.problem.remediation()
        )
        result.update(summarize([finding]), error=exc.problem.message)
        return result
    finding, report = evaluate_reachability(source, target, groups, protocol, int(port), expect)
    if scope == "none":
        audited: list[t.Mapping[str, t.Any]] = []
    elif scope == "target":
        audited = [groups[g] for g in target.group_ids]
    else:
        audited = [g for g in groups.values() if g.get("VpcId") == target.vpc_id] or [
            groups[g] for g in target.group_ids
        ]
    exposed = open_to_world(audited, ports)
    findings = [finding] + (
        exposure_findings(exposed, f"{scope}:{target.vpc_id or target.label}", len(audited)) if scope != "none" else []
    )
    result.update(report)
    result.update(summarize(findings), security_findings=exposed, audited_security_groups=len(audited))
    return result
