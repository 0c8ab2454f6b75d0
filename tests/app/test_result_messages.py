"""The create, query and update results through FiftyOne's executor: the loop in a person's
words, and where the operation ran only for a user who pointed the App at their own Prefect API."""

from __future__ import annotations

import pytest

from tests.app.operators import execute, form_params, review
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")


def create_query_update(digits, loop: str) -> dict[str, list[str]]:
    """The lines each operator's result shows, in order."""
    created = execute("create_learner", digits, **form_params(loop)).result
    queried = execute("query_learner", digits, loop=loop).result
    review(digits, loop, 1)
    updated = execute("update_learner_predictions", digits, loop=loop).result
    for result in (created, queried, updated):
        assert "error" not in result, result
    return {"create": created["lines"], "query": queried["lines"], "update": updated["lines"]}


def test_on_alflows_own_servers_the_results_say_what_happened_and_nothing_about_deployments(
    digits,
):
    loop = unique_name("words")
    shown = create_query_update(digits, loop)
    for lines in shown.values():
        assert not [line for line in lines if "deployment" in line or "Prefect" in line], lines
    assert shown["create"][0].startswith(f"Loop `{loop}` is ready: round 0 learned from 10")
    assert "'Active Learning: query learner'" in shown["create"][1]
    assert shown["query"][0].startswith(f"Round 1 of `{loop}`: the learner picked 10 samples")
    assert shown["update"][0].startswith(f"Round 1 of `{loop}` is done: the learner now knows")
    assert "'Active Learning: query learner'" in shown["update"][-1]


def test_with_the_users_prefect_api_and_no_deployment_each_result_has_one_short_detail_line(
    digits, monkeypatch
):
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    monkeypatch.setenv("PREFECT_API_URL", url)  # as a user who exported their own server's URL
    shown = create_query_update(digits, unique_name("detail"))
    for operation, lines in shown.items():
        detail = [line for line in lines if "Prefect server" in line]
        assert len(detail) == 1, (operation, lines)
        assert detail[0] == (
            "*Ran in the App's process: alflow's flows are not deployed on your Prefect server.*"
        )
        assert url not in detail[0] and "'alflow " not in detail[0]  # no address, no command
        assert lines[-1] == detail[0]
