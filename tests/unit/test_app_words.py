"""The App's sentences about a review (issue 26), as pure functions of small records."""

from __future__ import annotations

from alflow.app import messages


def counts(**over):
    base = {"round": 2, "total": 20, "tagged": 0, "edited": 0, "changed": 0}
    return {**base, "unresolved": [], "skipped": 0, "unmarked": 20, **over}


def test_the_update_warning_follows_the_choice_and_the_marks():
    assert "every sample" in messages.update_warning("wait", counts())
    assert "learns nothing" in messages.update_warning("accept_partial", counts())
    marked = counts(tagged=3, edited=2, unmarked=15)
    assert "15 samples: they will be learned as the model predicted" in (
        messages.update_warning("wait", marked)
    )
    assert messages.update_warning("accept_partial", marked) is None
    assert messages.update_warning("wait", counts(tagged=20, unmarked=0)) is None
    assert messages.update_warning("cancel", counts()) is None
    assert messages.update_warning("wait", None) is None


def test_review_lines_say_what_the_review_did_and_link_the_unresolved():
    outcome = {
        "round": 3,
        "corrected": 5,
        "accepted": 14,
        "skipped": 0,
        "unresolved": ["tag '3' and review label '5' disagree on round 3 sample x"],
        "pending": 0,
        "learned": 19,
        "accuracy": 0.91,
        "accuracy_before": 0.885,
        "view": "pets-round-003-unresolved",
    }
    lines = messages.review_lines(outcome, "pets")
    assert lines[0] == (
        "Review of round 3: 5 corrected, 14 accepted, 0 skipped, 1 unresolved; 19 labels "
        "learned. Held-out accuracy: 0.885 → 0.910 (+0.025)."
    )
    assert lines[1].startswith("- unresolved: tag '3' and review label '5' disagree")
    assert "[pets-round-003-unresolved](/datasets/pets?view=pets-round-003-unresolved)" in lines[2]
    assert messages.review_lines(None, "pets") == []


def test_status_lines_name_operators_never_commands():
    st = {"loop": "pets", "dataset": "pets", "status": "active", "done_reason": None}
    st |= {"round": 1, "state": "waiting", "backend": "app", "labelled": 40, "lock": None}
    lines = messages.status_lines(st)
    assert lines[1] == (
        "Round 1 is under review in the App: then run "
        "'Active Learning: update learner predictions'."
    )
    paused = messages.status_lines({**st, "round": None, "status": "paused"})
    assert not [line for line in lines + paused if "alflow " in line or "pid" in line]


def test_form_problems_in_a_persons_words():
    words = "List should have at least 1 item after validation, not 0"
    assert messages.form_problem("features.fields", words) == "feature fields: choose at least one"
    assert messages.form_problem("", "a rule") == "a rule"
