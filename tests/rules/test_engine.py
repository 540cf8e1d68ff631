"""The shipped rules on real-looking reports (table-driven), and the evaluation policy: first match decides."""

from __future__ import annotations

import pytest

from rules.engine import evaluate, rule_input
from rules.loader import load_rules, parse_rules
from rules.routing import route_category
from rules.types import RuleSet

SHIPPED = load_rules(None)


def decide(ruleset: RuleSet, body: str, *, subject: str = "", channel: str = "email", sender: str = "") -> tuple:
    verdict = evaluate(ruleset, rule_input(ruleset, subject=subject, body=body, channel=channel, sender=sender))
    return (verdict.decided.name if verdict.decided else None), verdict.hits


@pytest.mark.parametrize(
    ("body", "rule", "category"),
    [
        ("huge pothole in front of 1420 W Addison St, almost lost a tire", "pothole", "pothole"),
        ("the light on the corner of Clark and Belmont has been out for a week", "light-out", "street-light"),
        ("Streetlight flickering all night on Elm", "street-light", "street-light"),
        ("Light burned out at the corner of Oak and Elm", "street-light", "street-light"),
        ("That light goes on and off all night", "street-light", "street-light"),
        ("Traffic signal stuck on red at 5th and Main", "traffic-signal", "traffic-signal"),
        ("Stop sign knocked down by a truck", "street-sign", "street-sign"),
        ("Graffiti all over the wall of the grocery store", "graffiti", "graffiti"),
        ("Our recycling was not picked up this week", "missed-collection", "missed-collection"),
        ("Someone dumped a mattress and two couches in the alley", "illegal-dumping", "illegal-dumping"),
        ("Black Honda with no plates has not moved in 3 weeks", "abandoned-vehicle", "abandoned-vehicle"),
        ("A large branch fell and is blocking the sidewalk", "tree-down", "tree"),
        ("Water main break, water gushing into the street", "water-main-break", "water"),
        ("Fire hydrant leaking for two days", "hydrant-leak", "water"),
        ("Car parked in front of the hydrant again", "hydrant-blocked", "parking"),
        ("Storm drain clogged, the street is flooded", "sewer-drain", "sewer"),
        ("Uneven sidewalk is a tripping hazard", "sidewalk", "sidewalk"),
        ("Rats running around the building every night", "rodents", "rodents"),
        ("Dead raccoon on the corner", "dead-animal", "dead-animal"),
        ("Loud music from the bar until 4am", "noise", "noise"),
        ("Sidewalk not shoveled, covered in ice", "snow-ice", "snow-ice"),
        ("Someone is blocking my driveway", "parking-violation", "parking"),
        ("The swings in the playground are broken", "parks", "parks"),
        ("Overflowing trash cans on the corner", "litter", "litter"),
    ],
)
def test_shipped_rule_decides(body: str, rule: str, category: str) -> None:
    decided, hits = decide(SHIPPED, body)
    assert decided == rule
    assert rule in hits
    assert next(r for r in SHIPPED.rules if r.name == rule).category == category


@pytest.mark.parametrize(
    "body",
    [
        "I parked near the park entrance",  # "parked" is not a park report
        "Ice cream truck music",  # no keyword of any rule fires on this wording
        "Thank you for fixing it so quickly!",
        "",
    ],
)
def test_no_rule_fires(body: str) -> None:
    decided, hits = decide(SHIPPED, body)
    if body == "Ice cream truck music":
        assert "snow-ice" not in hits
    else:
        assert decided is None and hits == ()


def test_first_rule_in_file_order_decides_and_every_hit_is_recorded() -> None:
    decided, hits = decide(SHIPPED, "Pothole next to a broken street light")
    assert decided == "street-light"
    assert hits == ("street-light", "pothole")


CUSTOM = parse_rules(
    """
[categories.water]
department = "water"
[categories.other]
department = "front-desk"
priority = "low"
[[rule]]
name = "agency-forward"
category = "other"
department = "police-liaison"
priority = "high"
when.sender_domain = ["police.city.example"]
[[rule]]
name = "sms-leak"
category = "water"
when.channel = ["sms"]
when.keyword_any = ["leak"]
when.keyword_none = ["roof"]
[[rule]]
name = "meter-number"
category = "water"
when.regex = ['meter\\s*#?\\d{6}']
[[rule]]
name = "subject-only"
category = "water"
when.subject_keyword_any = ["hydrant"]
[[rule]]
name = "all-words"
category = "water"
when.keyword_all = ["pipe", "burst"]
when.sender_regex = ['\\+1312\\d{7}']
"""
)


@pytest.mark.parametrize(
    ("body", "subject", "channel", "sender", "decided"),
    [
        ("report", "", "email", "desk@police.city.example", "agency-forward"),
        ("report", "", "email", "desk@notpolice.city.example.org", None),
        ("water leaking", "", "sms", "+13125550100", "sms-leak"),
        ("water leaking", "", "email", "a@b.example", None),
        ("the roof leaks", "", "sms", "+13125550100", None),
        ("my meter #123456 spins", "", "web", "", "meter-number"),
        ("it is open", "Hydrant", "email", "a@b.example", "subject-only"),
        ("hydrant open", "", "email", "a@b.example", None),
        ("a pipe has burst", "", "sms", "+13125550100", "all-words"),
        ("a pipe has burst", "", "sms", "+14155550100", None),
    ],
)
def test_condition_kinds(body: str, subject: str, channel: str, sender: str, decided: str | None) -> None:
    assert decide(CUSTOM, body, subject=subject, channel=channel, sender=sender)[0] == decided


def test_routing_takes_rule_overrides_then_category_defaults() -> None:
    rule = CUSTOM.rules[0]
    route = route_category(CUSTOM, "other", rule)
    assert (route.department, route.priority) == ("police-liaison", "high")
    assert (route_category(CUSTOM, "other").department, route_category(CUSTOM, "other").priority) == (
        "front-desk",
        "low",
    )
    unknown = route_category(CUSTOM, "nonexistent")
    assert unknown.department == CUSTOM.triage.department
