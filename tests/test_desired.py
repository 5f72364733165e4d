"""``reconciler.desired``: prune only when the whole set parsed (DESIGN §9).

A real git repository and real ``mailctl`` processes: an org's file renamed while broken is
held (Stalled), never pruned, in ``plan``, ``diff`` and ``apply`` alike.
"""

from __future__ import annotations

import pytest

from reconciler.desired import build_desired
from reconciler.plan import Action, compute_plan
from reconciler.resolve import BUILTIN_PLATFORM
from reconciler.store import StateStore, open_store
from reconciler.validate import validate_paths
from tests import manifests
from tests.fixtures_cli import Mailctl
from tests.fixtures_repo import ConfigRepo

BROKEN = {
    "yaml-syntax": "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: [\n",
    "name-with-newline": manifests.org("globex", "custom", port=2526).replace(
        "name: globex", 'name: "globex\\n"'
    ),
    "name-invalid": manifests.org("globex", "custom", port=2526).replace(
        "name: globex", "name: Globex"
    ),
    "no-metadata": "apiVersion: mailctl/v1\nkind: OrgMailSettings\nspec:\n  mode: default\n",
}


def _rename_broken(repo: ConfigRepo, broken: str) -> None:
    repo.git("mv", "configs/orgs/globex.yaml", "configs/orgs/globex-renamed.yaml")
    repo.write("orgs/globex-renamed.yaml", broken)
    repo.commit("rename globex, and break it")


@pytest.mark.parametrize("broken", list(BROKEN), ids=list(BROKEN))
def test_a_file_naming_no_scope_blocks_every_prune(
    repo: ConfigRepo, store: StateStore, broken: str
) -> None:
    """The core rule, for each way a file can fail to name its scope."""
    state = build_desired(validate_paths([repo.configs]), {}, BUILTIN_PLATFORM, None)
    current = {s: w for s, w in state.scopes.items()}
    _rename_broken(repo, BROKEN[broken])
    repo.remove("orgs/umbrella.yaml")  # a legitimate removal waits too
    desired = build_desired(validate_paths([repo.configs]), current, BUILTIN_PLATFORM, None)
    assert not desired.may_prune
    plan = compute_plan(current, desired)
    assert [c for c in plan.changes if c.action is Action.DELETE] == []
    held = {h.scope: h for h in plan.held}
    assert set(held) == {"org/globex", "org/umbrella"}
    assert {h.reason for h in held.values()} == {"PruneBlocked"}
    assert "globex-renamed.yaml" in held["org/globex"].message
    assert [f.scope for f in plan.invalid_files] == [str(repo.configs / "orgs/globex-renamed.yaml")]
    assert plan.invalid


def test_renamed_and_broken_org_is_held_by_plan_diff_and_apply(
    repo: ConfigRepo, mailctl: Mailctl
) -> None:
    mailctl("apply", "--probe", "off", expect=0)
    assert mailctl.json("status", expect=0)["scopes"][2]["scope"] == "org/globex"
    _rename_broken(repo, BROKEN["yaml-syntax"])

    # plan: no delete, globex held, exit 1 (an invalid manifest), also with the flag.
    text = mailctl("plan", expect=1).stdout
    assert "will be deleted" not in text
    assert "org/globex is held at its last applied settings (PruneBlocked)" in text
    assert "The store matches the configuration" not in text
    mailctl("plan", "--detailed-exitcode", expect=1)
    plan = mailctl.json("plan", expect=1)
    assert plan["summary"]["delete"] == 0
    assert [(h["scope"], h["reason"]) for h in plan["held"]] == [("org/globex", "PruneBlocked")]
    assert plan["invalid_files"][0]["file"].endswith("orgs/globex-renamed.yaml")

    # diff agrees with plan: between the two commits, and against the working tree.
    for args in (("--base", "HEAD~1", "--head", "HEAD"), ("--base", "HEAD~1")):
        diff = mailctl.json("diff", *args, expect=1)
        assert diff["summary"]["delete"] == 0, args
        assert [(h["scope"], h["reason"]) for h in diff["held"]] == [("org/globex", "PruneBlocked")]
        assert diff["invalid_files"][0]["file"] == "configs/orgs/globex-renamed.yaml"

    # apply: nothing pruned, globex keeps its custom settings and is Stalled; exit 3.
    mailctl("apply", "--probe", "off", expect=3)
    with open_store(mailctl.store, create=False) as st:
        globex = st.get("org/globex")
        assert globex is not None and globex.effective["smtp.port"] == 2526
        assert globex.conditions["Stalled"]["status"] == "True"
        assert globex.conditions["Stalled"]["reason"] == "PruneBlocked"
        assert len(st.history(None, None)) == 1  # no new history entry: nothing changed
    status = mailctl.json("status", expect=3)
    by_scope = {s["scope"]: s for s in status["scopes"]}
    assert by_scope["org/globex"]["conditions"]["Ready"]["status"] == "False"
    assert [f["file"] for f in status["invalidFiles"]] == ["configs/orgs/globex-renamed.yaml"]
    status_text = mailctl("status", expect=3).stdout
    assert "org/globex: Stalled (PruneBlocked)" in status_text
    assert "3/4 scopes ready. 1 invalid file naming no scope." in status_text

    # Fixed under its new name: the same org, updated in place, never deleted.
    repo.write("orgs/globex-renamed.yaml", manifests.org("globex", "custom", port=2526))
    mailctl("apply", "--probe", "off", expect=0)
    status = mailctl.json("status", expect=0)
    globex = next(s for s in status["scopes"] if s["scope"] == "org/globex")
    assert globex["source"] == "configs/orgs/globex-renamed.yaml"
    assert globex["conditions"]["Ready"]["status"] == "True"
    assert status["invalidFiles"] == []
    history = mailctl.json("history", expect=0)["entries"]
    assert len(history) == 1  # the first apply only: nothing was deleted and re-created

    # With every file parsing again, a removed org is pruned as before.
    repo.remove("orgs/umbrella.yaml")
    assert mailctl.json("plan", expect=0)["summary"]["delete"] == 1
    mailctl("apply", "--probe", "off", expect=0)
    assert "org/umbrella" not in {s["scope"] for s in mailctl.json("status")["scopes"]}


def test_an_org_whose_own_file_is_broken_and_names_another_scope_is_held(
    repo: ConfigRepo, mailctl: Mailctl
) -> None:
    """globex.yaml now says ``name: globex2`` and is invalid: org/globex is held (its
    file is broken), org/globex2 is held before its first apply; nothing is pruned."""
    mailctl("apply", "--probe", "off", expect=0)
    broken = manifests.org("globex2", "custom", port=2526).replace("port: 2526", "port: 0")
    repo.write("orgs/globex.yaml", broken)
    plan = mailctl.json("plan", expect=1)
    assert plan["summary"]["delete"] == 0
    held = {h["scope"]: h for h in plan["held"]}
    assert set(held) == {"org/globex", "org/globex2"}
    assert held["org/globex"]["reason"] == "InvalidManifest" and held["org/globex"]["applied"]
    assert "names another scope now" in held["org/globex"]["message"]
    assert held["org/globex2"]["applied"] is False
    repo.commit("globex.yaml now names globex2, broken")
    diff = mailctl.json("diff", "--base", "HEAD~1", "--head", "HEAD", expect=1)
    assert diff["summary"]["delete"] == 0
    assert {h["scope"] for h in diff["held"]} == {"org/globex", "org/globex2"}
    mailctl("apply", "--probe", "off", expect=3)
    status = {s["scope"]: s for s in mailctl.json("status", expect=3)["scopes"]}
    assert status["org/globex"]["applied"] and status["org/globex"]["mode"] == "custom"
    assert status["org/globex2"]["applied"] is False
