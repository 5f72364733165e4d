"""Plan rendering: Terraform-style text, JSON keys, Markdown size at 10,000 orgs."""

from __future__ import annotations

import json

import pytest

from reconciler.desired import Held
from reconciler.model import Effective, Sender, SmtpSettings
from reconciler.plan import Action, FieldChange, Plan, ScopeChange, field_changes
from reconciler.reporters.plan import render_json, render_markdown, render_text

EFF = Effective(SmtpSettings("mx.example", 587), Sender("a@example.com")).flat()


def creates(n: int) -> tuple[ScopeChange, ...]:
    return tuple(
        ScopeChange(
            f"org/org-{i:05d}",
            Action.CREATE,
            None,
            "custom",
            field_changes(None, EFF),
            True,
            source_file=f"configs/orgs/org-{i:05d}.yaml",
        )
        for i in range(n)
    )


def cascade(n: int) -> tuple[ScopeChange, ...]:
    return tuple(
        ScopeChange(f"org/o{i}", Action.NOOP, "default", "default", (), True) for i in range(n)
    )


HOST_UPDATE = ScopeChange(
    "host",
    Action.UPDATE,
    "custom",
    "custom",
    (
        FieldChange("smtp.port", 587, 465),
        FieldChange("smtp.auth.password", "env:A", "env:A", sensitive=True),
    ),
    True,
)


@pytest.mark.parametrize(
    "plan",
    [
        Plan(creates(10_000), (), ()),
        Plan((HOST_UPDATE,), cascade(10_000), ()),
        Plan((HOST_UPDATE, *creates(5_000)), cascade(10_000), ()),
    ],
    ids=["10k-creates", "10k-cascade", "both"],
)
def test_markdown_stays_under_github_limit(plan: Plan) -> None:
    text = render_markdown(plan)
    assert len(text) < 65_536
    assert text.count("```") % 2 == 0  # code fences stay balanced
    assert text.count("<details") == text.count("</details>")
    assert "Plan:" in text


def test_text_is_terraform_style() -> None:
    text = render_text(Plan((HOST_UPDATE, *creates(1)), cascade(3), ()), color=False)
    assert "~ smtp.port: 587 -> 465" in text
    assert "~ smtp.auth.password: (sensitive value changed)" in text
    assert "+ org/org-00000" in text and '+ smtp.host: "mx.example"' in text
    assert "changes the effective settings of 3 inheriting orgs" in text
    assert text.endswith("Plan: 1 to create, 1 to update, 0 to delete.")
    assert "\x1b[" not in text


def test_color_only_when_asked() -> None:
    assert "\x1b[" in render_text(Plan((HOST_UPDATE,), (), ()), color=True)


def test_json_carries_the_contract_keys() -> None:
    payload = json.loads(render_json(Plan((HOST_UPDATE,), cascade(2), ())))
    assert payload["format_version"] == "1.0"
    assert payload["summary"] == {"create": 0, "update": 1, "delete": 0, "cascade": 2}
    host = payload["changes"][0]
    assert {"scope", "action", "changes", "effective_changed"} <= set(host)
    secret = host["changes"][1]
    assert secret["sensitive"] is True and secret["note"] == "(sensitive value changed)"
    assert [c["action"] for c in payload["changes"][1:]] == ["noop", "noop"]


def test_no_changes() -> None:
    assert render_text(Plan((), (), ()), color=False).startswith("No changes.")
    assert "No changes" in render_markdown(Plan((), (), ()))


def test_diff_has_no_store_to_match() -> None:
    text = render_text(Plan((), (), ()), color=False, diff=True)
    assert text == "No changes. The effective settings are the same at both revisions."
    held = Plan((), (), (Held("org/acme", "InvalidManifest", "broken"),))
    text = render_text(held, color=False, diff=True)
    assert "store" not in text
    assert text.endswith("No changes can be applied: 1 scope held at the head revision.")
    assert render_text(Plan((), (), ()), color=False) == (
        "No changes. The store matches the configuration."
    )


@pytest.mark.parametrize(
    ("n", "text_part", "markdown_part"),
    [
        (1, "of 1 inheriting org:", "Cascade: 1 inheriting org changes with the host"),
        (2, "of 2 inheriting orgs:", "Cascade: 2 inheriting orgs change with the host"),
    ],
)
def test_cascade_counts_are_singular_or_plural(n: int, text_part: str, markdown_part: str) -> None:
    plan = Plan((HOST_UPDATE,), cascade(n), ())
    assert text_part in render_text(plan, color=False)
    markdown = render_markdown(plan)
    assert markdown_part in markdown
    assert f"cascades to **{n}** inheriting org{'s' if n != 1 else ''}." in markdown
