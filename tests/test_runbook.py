"""The alert rules link docs/runbook.md#<anchor>: every anchor they can produce exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from streams.engine.types import Cause

REPO = Path(__file__).resolve().parents[1]
RUNBOOK = REPO / "docs" / "runbook.md"
RULES = REPO / "deploy" / "grafana" / "provisioning" / "alerting" / "rules.yaml"


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but hyphens and underscores dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def runbook_links() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["annotations"]["runbook_url"] for group in rules["groups"] for rule in group["rules"]]


def test_every_rule_links_the_runbook_in_this_repository() -> None:
    links = runbook_links()
    assert links
    for link in links:
        assert "/blob/main/docs/runbook.md#" in link and RUNBOOK.is_file()


def test_every_anchor_a_rule_can_link_exists_once_per_cause() -> None:
    anchors = heading_anchors(RUNBOOK.read_text())
    for link in runbook_links():
        template = link.split("#", 1)[1]
        for cause in Cause:
            anchor = template.replace("{{ $labels.cause }}", cause.value)
            assert "{{" not in anchor, f"a runbook link uses a label this test does not know: {template}"
            assert anchor in anchors, f"docs/runbook.md has no section #{anchor}"


def test_in_page_links_of_the_runbook_resolve() -> None:
    text = RUNBOOK.read_text()
    anchors = heading_anchors(text)
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, target


def test_heading_anchors_follow_github() -> None:
    assert heading_anchors("## platform-purge\n### When the alert `itself` errors!\n") == {
        "platform-purge", "when-the-alert-itself-errors"}
