"""deployments/prefect.yaml and deployments/serve.py describe the same, existing flows."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from alflow.config.loop import StepOptions
from deployments import serve

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
BY_NAME = {d["name"]: d for d in SPEC["deployments"]}


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_entrypoint_is_a_flow_in_this_checkout(name):
    path, function = BY_NAME[name]["entrypoint"].split(":")
    assert (ROOT / path).is_file(), f"{name}: {path} does not exist"
    flow = load_flow_from_entrypoint(f"{ROOT / path}:{function}")
    assert flow.name == f"alflow-{name}"
    assert BY_NAME[name]["work_pool"]["name"] == "alflow-process"


def test_step_defaults_are_valid_step_options():
    options = StepOptions.model_validate(BY_NAME["step"]["parameters"]["options"])
    assert options.when_unfinished == "wait"


def test_serve_offers_the_same_deployments_and_schedule():
    served = {d.name: d for d in serve.deployments()}
    assert set(served) == set(BY_NAME)
    for name, deployment in served.items():
        assert deployment.flow_name == f"alflow-{name}"
    (cron,) = [s["cron"] for s in BY_NAME["advance"]["schedules"]]
    assert cron == serve.ADVANCE_CRON
    assert [s.schedule.cron for s in served["advance"].schedules] == [cron]
    assert served["step"].schedules == [] and served["create-loop"].schedules == []


def test_readme_section_matches_the_deployments_and_options():
    import json
    import re
    from typing import get_args

    from alflow.config.loop import StopRules

    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Three ways to run a round\n")
    section = text[start : text.index("\n## ", start + 1)]
    deployed = {f"alflow-{name}/{name}" for name in BY_NAME}
    assert set(re.findall(r"alflow-[a-z-]+/[a-z-]+", section)) == deployed
    (cron,) = [s["cron"] for s in BY_NAME["advance"]["schedules"]]
    assert f"`{cron}`" in section
    choices = re.findall(r"^\| `(\w+)`(?: \(default\))? \| (?!the round)", section, flags=re.M)
    assert choices == list(get_args(StepOptions.model_fields["when_unfinished"].annotation))
    (block,) = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    rules = StopRules.model_validate(json.loads(block)["stop"])
    assert (rules.label_budget, rules.max_rounds, rules.plateau_rounds) == (500, 20, 3)
    for image in re.findall(r"\]\((docs/[\w.-]+\.png)\)", section):
        assert (ROOT / image).read_bytes().startswith(b"\x89PNG")
