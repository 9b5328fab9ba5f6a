"""The planner agent: the real `claude` CLI, read-only over the candidate repos, against a local
server scripted as the model; its plan reaches the prompts and the merge requests, and a wrong
answer gets one repair turn before the deterministic planner takes over."""

from __future__ import annotations

import json

import pytest
from conftest import Workspace
from fake_anthropic import FakeAnthropic, Turn, text, tool
from fake_gitlab import FakeGitLab
from fake_openai import FakeOpenAI, say

from pipelines import planner

API_KEY = "sk-ant-test-0123456789abcdefghijklmnop"
GITLAB_TOKEN = "glpat-planner-0123456789"
TICKET = """---
id: T-1
title: Bill in the customer's currency
{front}---
Invoices show amounts in euros whatever the customer's country. Show them in the customer's
currency, and let the storefront say which currency a customer pays in.
"""
GOOD = {
    "repos": [
        {"name": "web", "why": "it shows the customer's currency", "after": ["billing"],
         "instructions": "Show the currency billing.currency_of(customer) returns on the checkout page."},
        {"name": "billing", "why": "it renders invoices", "after": [],
         "instructions": "Add currency_of(customer) and render invoice amounts in that currency."},
    ]
}  # fmt: skip


def setup(ws: Workspace, gitlab: FakeGitLab | None = None, front: str = "") -> None:
    forge = "{kind: local}"
    if gitlab is not None:
        forge = f"{{kind: gitlab, url: '{gitlab.url}', project: group/NAME, timeout: 2, backoff: 0.05}}"
    invoice = "def render(amount):\n    return f'{amount} EUR'\n"
    repos = {
        "billing": ("Invoicing service.", {"billing/invoice.py": invoice}),
        "web": ("The storefront.", {"web/checkout.py": "def page():\n    return 'Pay now'\n"}),
        "docs": ("User documentation.", {"README.md": "Docs.\n"}),
    }
    lines = []
    for name, (description, files) in repos.items():
        url = ws.remote(name, files)
        lines.append(
            f"  {name}: {{url: {url}, description: {description}, forge: {forge.replace('NAME', name)}}}"
        )
    ws.write(
        "repos.yaml",
        "defaults:\n"
        "  agent: {kind: command, run: 'echo \"# $SHIPYARD_REPO\" >> NOTES.md'}\n"
        "  gates: []\n  env: none\n"
        "  planner: {kind: claude-code, max_turns: 5}\n"
        "repos:\n" + "\n".join(lines) + "\n",
    )
    ws.write("tickets/T-1.md", TICKET.format(front=front))


def ship(ws: Workspace, server: FakeAnthropic):
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": API_KEY, "CLAUDE_CODE_MAX_RETRIES": "0",
           "GITLAB_TOKEN": GITLAB_TOKEN}  # fmt: skip
    return ws.doit("ship", env=env)


def plan_of(ws: Workspace) -> dict:
    return json.loads(ws.state("T-1", "plan.json").read_text())


def test_the_planner_agent_plans_a_plain_language_ticket_in_order(workspace: Workspace) -> None:
    with FakeGitLab(token=GITLAB_TOKEN, projects=("group/billing", "group/web", "group/docs")) as gitlab:
        setup(workspace, gitlab)
        turns: list[Turn] = [[tool("Grep", pattern="EUR")], [text(json.dumps(GOOD))]]
        with FakeAnthropic(turns) as server:
            run = ship(workspace, server)
        assert run.returncode == 0, run.out + run.err
        plan = plan_of(workspace)
        assert plan["planner"] == "claude-code" and plan.get("fallback") is None
        assert [(r["name"], r["after"]) for r in plan["repos"]] == [("billing", []), ("web", ["billing"])]
        # the model was shown every candidate repo and read the trees, never the user's checkouts
        assert all(name in server.seen() for name in ("billing", "web", "docs", "Invoicing service."))
        prompt = workspace.state("T-1", "web", "prompt.md").read_text()
        assert "Show the currency billing.currency_of(customer) returns" in prompt
        assert "lands after the change to billing" in prompt
        web_mr = gitlab.merge_requests["group/web"][0]["description"]
        assert "in this order: billing, web" in web_mr
        assert not workspace.state("T-1", "docs").exists()
        assert workspace.state("T-1", "planner", "transcript.jsonl").exists()
        usage = json.loads(workspace.state("T-1", "planner", "attempts", "1", "usage.json").read_text())
        assert usage["role"] == "planner" and usage["status"] == "done"
        # an unchanged ticket is not planned again: no new request reaches the model
        with FakeAnthropic([]) as again:
            assert ship(workspace, again).executed == []
            assert again.requests == []


def test_an_unusable_answer_gets_one_repair_turn_then_the_deterministic_planner(workspace: Workspace) -> None:
    setup(workspace, front="repos: [billing]\n")
    turns: list[Turn] = [[text("I think billing and maybe web.")], [text('{"repos": [{"name": "nope"}]}')]]
    with FakeAnthropic(turns) as server:
        run = ship(workspace, server)
    assert run.returncode == 0, run.out + run.err
    plan = plan_of(workspace)
    assert plan["planner"] == "deterministic" and [r["name"] for r in plan["repos"]] == ["billing"]
    assert plan["fallback"].startswith(
        "the claude-code planner's answer was not usable: not the JSON asked for"
    )
    assert len(server.requests) == 2 and "could not be used" in json.dumps(server.requests[1])
    assert "the deterministic planner decides" in run.err


def test_a_repair_turn_that_fixes_the_answer_is_used(workspace: Workspace) -> None:
    setup(workspace)
    wrong = {"repos": [{**GOOD["repos"][1], "name": "invoicing"}]}
    turns: list[Turn] = [[text(json.dumps(wrong))], [text(f"```json\n{json.dumps(GOOD)}\n```")]]
    with FakeAnthropic(turns) as server:
        run = ship(workspace, server)
    assert run.returncode == 0, run.out + run.err
    assert "unknown repo 'invoicing'" in json.dumps(server.requests[-1])
    assert [r["name"] for r in plan_of(workspace)["repos"]] == ["billing", "web"]


def pick(name: str, *after: str) -> dict:
    return {"name": name, "why": "w", "instructions": "i", "after": list(after)}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("no json here", "not the JSON asked for"),
        (json.dumps({"repos": [pick("web", "web")]}), "cycle: web -> web"),
        (json.dumps({"repos": [pick("web", "docs")]}), "not among the chosen"),
        (json.dumps({"repos": [pick("web"), pick("web")]}), "listed twice"),
        (json.dumps({"repos": [pick("web", "docs"), pick("docs", "web")]}), "cycle"),
    ],
)
def test_answers_are_checked_against_the_schema_and_the_repos(answer: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        planner.check(answer, {"web": "a" * 40, "docs": "b" * 40}, named=())


def test_order_puts_each_repo_after_those_it_needs() -> None:
    assert planner.order({"web": ["billing"], "billing": [], "docs": ["web", "billing"]}) == [
        "billing",
        "web",
        "docs",
    ]


def test_codex_plans_too(workspace: Workspace) -> None:
    setup(workspace)
    with FakeOpenAI([[say(json.dumps(GOOD))]]) as server:
        planner_settings = (
            f'{{kind: codex, model: test-model, base_url: "{server.url}", api_key_env: TEST_KEY}}'
        )
        text_ = workspace.root.joinpath("repos.yaml").read_text()
        workspace.write("repos.yaml", text_.replace("{kind: claude-code, max_turns: 5}", planner_settings))
        run = workspace.doit("ship", env={"TEST_KEY": API_KEY})
    assert run.returncode == 0, run.out + run.err
    plan = plan_of(workspace)
    assert plan["planner"] == "codex" and [r["name"] for r in plan["repos"]] == ["billing", "web"]


def test_a_spent_budget_stops_the_planner_before_it_runs(workspace: Workspace) -> None:
    setup(workspace)
    text_ = workspace.root.joinpath("repos.yaml").read_text()
    workspace.write("repos.yaml", text_.replace("  env: none\n", "  env: none\n  budget_usd: 0\n"))
    with FakeAnthropic([]) as server:
        run = ship(workspace, server)
    assert run.returncode != 0 and server.requests == []
    assert (
        "T-1: plan: spent 0.00 of 0.00 USD (budget_usd); not starting another agent run" in run.out + run.err
    )
