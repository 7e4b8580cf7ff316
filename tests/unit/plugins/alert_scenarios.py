# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``promtool test rules`` cases for every shipped rule, built from the same parameters as the rules.

Each scenario is time-scaled from the parameters (the windows and ``for:``
durations), so one description covers production's minutes and the lab's
seconds. Expected annotations are the rules' own templates with the values
filled in the way Prometheus's ``humanize*`` functions print them.
"""

from __future__ import annotations

import math
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _alert_rules as ar

JOB = "incident-response"
APP1, APP2 = "app1:8080", "app2:8080"


def seconds(duration: str) -> int:
    return int(ar.duration_seconds(duration, duration))


def go_duration(total: float) -> str:
    """A duration as promtool takes it (whole seconds: 90s, not 1.5m)."""
    return f"{round(total)}s"


def humanize(value: float) -> str:
    """Prometheus's humanize for 1 <= v < 1000: Go's %.4g."""
    text = f"{value:.4g}"
    return text


def humanize_percentage(ratio: float) -> str:
    return humanize(ratio * 100) + "%"


def humanize_duration(value: float) -> str:
    if value < 1:
        return humanize(value * 1000) + "ms"
    return f"{value:.4g}s"


class Case(t.NamedTuple):
    """One promtool test: its series, at which times which alerts must (not) be firing."""
    title: str
    interval: int
    series: list[tuple[str, str]]
    checks: list[tuple[int, str, list[dict[str, t.Any]]]]  # (eval seconds, alertname, expected alerts)
    exprs: list[tuple[int, str, list[dict[str, t.Any]]]] = []  # (eval seconds, expr, expected samples)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def requests(instance: str, code: str, values: str, path: str = "/api/incidents") -> tuple[str, str]:
    return f"http_requests_total{_labels(job=JOB, instance=instance, path=path, code=code)}", values


def counter(per_step: float, steps: int, start: float = 0) -> str:
    return f"{start:g}+{per_step:g}x{steps}"


class Scenarios:
    """The cases for one parameter set; ``cases()`` returns them by alert key."""

    def __init__(self, params: ar.Parameters) -> None:
        self.p = params
        self.service = params["service"]

    # ----------------------------------------------------------------- expectations

    def name(self, key: str) -> str:
        return ar.alert_name(self.service, key)

    def rule(self, key: str) -> dict[str, t.Any]:
        for group in ar.rule_groups(self.p)["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == self.name(key):
                    return rule
        raise KeyError(key)

    def firing(self, key: str, instance: str | None = None, value: str = "") -> dict[str, t.Any]:
        rule = self.rule(key)
        labels = {"job": JOB, **({"instance": instance} if instance else {}), **rule["labels"]}
        annotations = {}
        for name, text in rule["annotations"].items():
            text = text.replace("{{ $labels.instance }}", instance or "")
            for placeholder in ("{{ $value | humanizePercentage }}", "{{ $value | humanizeDuration }}"):
                text = text.replace(placeholder, value)
            annotations[name] = text
        return {"exp_labels": labels, "exp_annotations": annotations}

    # ----------------------------------------------------------------- per-instance alerts

    def high_error_rate(self) -> list[Case]:
        window, hold = seconds(self.p["error_rate_window"]), seconds(self.p["error_rate_for"] or "0s")
        step = max(1, window // 20)
        steps = (3 * window + hold) // step + 40
        settle = window + hold + 3 * step  # a full window of bad data, then the for: duration
        key, limit = "high_error_rate", self.p["error_rate_percent"] / 100.0

        def mix(instance: str, ok: int, bad: int, n: int = steps) -> list[tuple[str, str]]:
            return [requests(instance, "200", counter(ok, n)), requests(instance, "500", counter(bad, n))]

        exact_ok = round(1000 * (1 - limit))
        exact_bad = 1000 - exact_ok
        cases = [
            Case(f"exactly {limit:.1%} of 5xx never fires (the runbook says greater than)", step,
                 mix(APP1, exact_ok, exact_bad),
                 [(settle, self.name(key), []), (2 * settle, self.name(key), []),
                  (steps * step, self.name(key), [])]),
            Case("5.1 % of 5xx fires, but only after its for: duration", step,
                 mix(APP1, 949, 51),
                 ([(max(step, hold - step), self.name(key), [])] if hold > step else []) +
                 [(settle, self.name(key), [self.firing(key, APP1, humanize_percentage(0.051))])]),
            Case("one instance bad and one good: only the bad one fires", step,
                 mix(APP1, 990, 10) + mix(APP2, 700, 300),
                 [(settle, self.name(key), [self.firing(key, APP2, humanize_percentage(0.3))])]),
            Case("scrapes of /metrics do not dilute the service's 5xx ratio", step,
                 mix(APP1, 70, 30) + [requests(APP1, "200", counter(10000, steps), path="/metrics")],
                 [(settle, self.name(key), [self.firing(key, APP1, humanize_percentage(0.3))])]),
        ]
        # A gap shorter than the window: the rate still has samples on both sides, so the alert keeps firing.
        before = settle // step + 2
        gap = max(2, (window // 2) // step)
        after = steps - before - gap
        cases.append(Case("a gap in scrapes shorter than the window keeps the alert firing", step, [
            requests(APP1, "200", f"0+70x{before} _x{gap} {70 * (before + gap):g}+70x{after}"),
            requests(APP1, "500", f"0+30x{before} _x{gap} {30 * (before + gap):g}+30x{after}"),
        ], [(before * step + (gap - 1) * step, self.name(key), [self.firing(key, APP1, humanize_percentage(0.3))])]))
        # A gap longer than the window: no data is no verdict, and the alert ends instead of paging on stale data.
        long_gap = (window + hold) // step + 10
        rest = steps - before - long_gap
        cases.append(Case("a gap in scrapes longer than the window ends the alert", step, [
            requests(APP1, "200", f"0+70x{before} _x{long_gap} {70 * before:g}+70x{rest}"),
            requests(APP1, "500", f"0+30x{before} _x{long_gap} {30 * before:g}+30x{rest}"),
        ], [(before * step, self.name(key), [self.firing(key, APP1, humanize_percentage(0.3))]),
            ((before + long_gap - 2) * step, self.name(key), [])]))
        cases.append(Case("a restart (counter reset) during bad traffic still counts as bad", step, [
            requests(APP1, "200", f"0+70x{before} 0+70x{steps - before}"),
            requests(APP1, "500", f"0+30x{before} 0+30x{steps - before}"),
        ], [((before + 3) * step, self.name(key), [self.firing(key, APP1, humanize_percentage(0.3))])]))
        cases.append(Case("no traffic is no alert", step, mix(APP1, 0, 0), [(settle, self.name(key), [])]))
        return cases

    def _buckets(self, instance: str, per_step: dict[float, int], steps: int) -> list[tuple[str, str]]:
        """Cumulative duration buckets from the observations per step that fall into each bucket."""
        bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, math.inf]
        series, total = [], 0
        for bound in bounds:
            total += per_step.get(bound, 0)
            le = "+Inf" if math.isinf(bound) else f"{bound:g}"
            labels = _labels(job=JOB, instance=instance, path="/api/incidents", le=le)
            series.append((f"{self.p['duration_metric']}_bucket{labels}", counter(total, steps)))
        return series

    def high_latency(self) -> list[Case]:
        window, hold = seconds(self.p["latency_window"]), seconds(self.p["latency_for"] or "0s")
        step = max(1, window // 20)
        steps = (2 * window + hold) // step + 40
        settle = window + hold + 3 * step
        key = "high_latency"
        # 95 of 100 at or below 0.5 s: histogram_quantile(0.95) is exactly the bucket bound, 500 ms.
        exact = {0.5: 95, 0.75: 5}
        slow = {0.5: 90, 0.75: 10}   # rank 95 lies half way into (0.5, 0.75]: 625 ms
        fast = {0.1: 99, 0.25: 1}
        assert self.p["latency_p95_ms"] == 500, "the scenarios are written for the runbook's 500 ms"
        return [
            Case("P95 of exactly 500 ms never fires", step, self._buckets(APP1, exact, steps),
                 [(settle, self.name(key), []), (2 * settle, self.name(key), [])]),
            Case("P95 of 625 ms fires after its for: duration", step, self._buckets(APP1, slow, steps),
                 ([(max(step, hold - step), self.name(key), [])] if hold > step else []) +
                 [(settle, self.name(key), [self.firing(key, APP1, humanize_duration(0.625))])]),
            Case("one instance slow and one fast: only the slow one fires", step,
                 self._buckets(APP1, fast, steps) + self._buckets(APP2, slow, steps),
                 [(settle, self.name(key), [self.firing(key, APP2, humanize_duration(0.625))])]),
        ]

    def service_down(self) -> list[Case]:
        hold = seconds(self.p["down_for"] or "0s")
        step = max(1, hold // 6) if hold else 1
        steps = hold // step * 4 + 20
        key = "service_down"

        def up(instance: str, values: str) -> tuple[str, str]:
            return f"up{_labels(job=JOB, instance=instance)}", values

        down_at = 5
        blip = max(1, hold // step - 2)
        return [
            Case("one instance down and one up: only the down one fires, after its for: duration", step,
                 [up(APP1, "1x" + str(steps)), up(APP2, f"1x{down_at} 0x{steps - down_at}")],
                 [((down_at + 1) * step, self.name(key), []),
                  ((down_at + 2) * step + hold, self.name(key), [self.firing(key, APP2)])]),
            Case("a failed scrape shorter than the for: duration does not fire", step,
                 [up(APP1, f"1x{down_at} 0x{blip} 1x{steps - down_at - blip}")],
                 [((down_at + blip) * step, self.name(key), []), ((down_at + blip + 2) * step + hold, self.name(key), [])]),
        ]

    def memory_near_limit(self) -> list[Case]:
        hold = seconds(self.p["memory_for"] or "0s")
        step = max(1, hold // 10) if hold else 1
        steps = hold // step * 3 + 20
        key = "memory_near_limit"
        limit = 1_000_000_000

        def gauge(metric: str, instance: str, value: float) -> tuple[str, str]:
            return f"{metric}{_labels(job=JOB, instance=instance)}", f"{value:g}x{steps}"

        used, cap = self.p["memory_used_metric"], self.p["memory_limit_metric"]
        exact = limit * self.p["memory_percent"] / 100.0
        return [
            Case("exactly at the limit's share does not fire; above it fires after its for: duration", step,
                 [gauge(used, APP1, exact), gauge(cap, APP1, limit),
                  gauge(used, APP2, 0.95 * limit), gauge(cap, APP2, limit)],
                 [(step * 2, self.name(key), []),
                  (hold + 3 * step, self.name(key), [self.firing(key, APP2, humanize_percentage(0.95))])]),
            Case("no exported limit is no alert", step, [gauge(used, APP1, 0.99 * limit)],
                 [(hold + 3 * step, self.name(key), [])]),
        ]

    # ----------------------------------------------------------------- the SLO's burn rates

    @staticmethod
    def _slo(ratio_steps: list[tuple[float, int]]) -> list[tuple[str, str]]:
        """One instance's traffic, 1000 requests a step, with the 5xx share changing over time."""
        ok_parts, bad_parts, ok_total, bad_total = [], [], 0, 0
        for ratio, count in ratio_steps:
            bad = round(1000 * ratio)
            ok_parts.append(f"{ok_total:g}+{1000 - bad:g}x{count}")
            bad_parts.append(f"{bad_total:g}+{bad:g}x{count}")
            ok_total += (1000 - bad) * (count + 1)
            bad_total += bad * (count + 1)
        return [requests(APP1, "200", " ".join(ok_parts)), requests(APP1, "500", " ".join(bad_parts))]

    def error_budget(self) -> list[Case]:
        page, ticket = self.p["slo_page_windows"], self.p["slo_ticket_windows"]
        budget = ar.error_budget(self.p["slo_target_percent"])
        shortest = min(seconds(w["short"]) for w in page + ticket)
        step = max(1, shortest // 5)
        page_for, ticket_for = seconds(self.p["slo_page_for"] or "0s"), seconds(self.p["slo_ticket_for"] or "0s")
        first_page, first_ticket = page[0], ticket[0]
        page_settle = seconds(first_page["short"]) + page_for + 3 * step
        ticket_settle = seconds(first_ticket["short"]) + ticket_for + 3 * step
        # Long enough for every short window and for: duration; the long windows need not fill (rate() reads
        # what there is), and evaluating days of series makes promtool slow.
        horizon = 2 * (max(seconds(w["short"]) for w in page + ticket) + max(page_for, ticket_for)) // step + 20
        fast, slow = self.name("error_budget_fast_burn"), self.name("error_budget_slow_burn")
        # Requests come 1000 a step, so a share of 5xx is a whole number of them and the ratios are exact.
        heavy = math.ceil(first_page["burn_rate"] * budget * 1000 * 1.5) / 1000          # pages
        mild = math.floor(min(w["burn_rate"] for w in page) * budget * 1000 - 1) / 1000   # a ticket, not a page
        assert mild > first_ticket["burn_rate"] * budget, "the mild scenario must still burn above the ticket rate"
        record = ar.rule_groups(self.p)["groups"][0]["rules"][0]["record"]
        cases = [
            Case(f"{heavy:.2%} of 5xx burns fast: page within {go_duration(page_settle)}, the slow alert follows", step,
                 self._slo([(heavy, horizon)]),
                 [(page_settle, fast, [self.firing("error_budget_fast_burn")]),
                  (max(page_settle, ticket_settle), slow, [self.firing("error_budget_slow_burn")])],
                 [(page_settle, record, [{"labels": f'{record}{{job="{JOB}"}}', "value": heavy}])]),
            Case(f"{mild:.2%} of 5xx is a ticket, never a page", step,
                 self._slo([(mild, horizon)]),
                 [(ticket_settle, slow, [self.firing("error_budget_slow_burn")]),
                  (horizon * step, fast, [])]),
        ]
        # The short windows' job: once the errors stop, the page ends although the long windows still remember.
        burst = (seconds(first_page["short"]) + page_for) // step + 10
        quiet_after = max(seconds(w["short"]) for w in page) + 3 * step
        cases.append(Case("the page ends once the short windows no longer see errors", step,
                          self._slo([(0.2, burst), (0.0, horizon)]),
                          [(burst * step, fast, [self.firing("error_budget_fast_burn")]),
                           ((burst + 1) * step + quiet_after, fast, [])]))
        exact_ticket = min(ticket, key=lambda w: w["burn_rate"])
        if exact_ticket["burn_rate"] * budget * 1000 == round(exact_ticket["burn_rate"] * budget * 1000):
            cases.append(Case("spending the budget at exactly its rate never fires", step,
                              self._slo([(exact_ticket["burn_rate"] * budget, horizon)]),
                              [(horizon * step, slow, []), (horizon * step, fast, [])]))
        return cases

    def cases(self) -> dict[str, list[Case]]:
        return {"high_error_rate": self.high_error_rate(), "high_latency": self.high_latency(),
                "service_down": self.service_down(), "memory_near_limit": self.memory_near_limit(),
                "error_budget": self.error_budget()}


def promtool_file(cases: t.Sequence[Case], rules_path: str, evaluation_interval: int) -> dict[str, t.Any]:
    tests = []
    for case in cases:
        tests.append({
            "name": case.title,
            "interval": go_duration(case.interval),
            "input_series": [{"series": series, "values": values} for series, values in case.series],
            "alert_rule_test": [{"eval_time": go_duration(at), "alertname": name, "exp_alerts": expected}
                                for at, name, expected in case.checks],
            **({"promql_expr_test": [{"expr": expr, "eval_time": go_duration(at), "exp_samples": samples}
                                     for at, expr, samples in case.exprs]} if case.exprs else {}),
        })
    return {"rule_files": [rules_path], "evaluation_interval": go_duration(evaluation_interval), "tests": tests}
