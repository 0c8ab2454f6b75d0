"""The example of docs/own-model.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "own-model.md"


@pytest.mark.usefixtures("prefect_server")
def test_the_own_model_example_runs_three_rounds(digits, capsys):
    (snippet,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    exec(compile(snippet, str(PAGE), "exec"), {})
    round_number, labelled, accuracy = capsys.readouterr().out.split()[-3:]
    assert (round_number, labelled) == ("3", "40") and 0.5 < float(accuracy) <= 1
