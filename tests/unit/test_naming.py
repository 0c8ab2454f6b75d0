import pytest

from alflow.config import naming
from alflow.errors import ConfigError


@pytest.mark.parametrize("name", ["a", "digits", "digits-rf", "loop-2", "a1-b2-c3"])
def test_valid_names_pass(name):
    assert naming.validate_loop_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Digits", "lowercase"),
        ("digits_rf", "lowercase letters, digits and single dashes"),
        ("-digits", "starting with a letter"),
        ("digits-", "single dashes"),
        ("a--b", "single dashes"),
        ("1loop", "starting with a letter"),
        ("x" * 41, "at most 40"),
        ("", "empty"),
    ],
)
def test_invalid_names_say_why(name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        naming.validate_loop_name(name)


def test_bad_name_error_suggests_a_valid_one():
    with pytest.raises(ConfigError) as info:
        naming.validate_loop_name("My Loop_2")
    suggestion = str(info.value).split("for example ")[1].strip("')")
    assert naming.validate_loop_name(suggestion) == suggestion


def test_every_written_name_derives_from_the_loop_name():
    fields = naming.loop_fields("digits-rf")
    assert fields == (
        "al_digits_rf_label",
        "al_digits_rf_prediction",
        "al_digits_rf_split",
        "al_digits_rf_review",
        "al_digits_rf_round",
    )
    assert naming.review_surface_fields("digits-rf") == fields[-2:]
    assert naming.round_field("digits-rf") == "al_digits_rf_round"
    # only to remove the tags of rounds shown before the round field existed
    assert naming.round_tag_prefix("digits-rf") == "al:digits-rf:"
    assert naming.is_round_view("digits-rf", "digits-rf-round-003")
    assert not naming.is_round_view("digits", "digits-rf-round-003")
    assert naming.round_name("digits-rf", 7) == "digits-rf-round-007"
    assert naming.cvat_project_name("digits-rf") == "alflow-digits-rf"
    assert naming.artifact_key("digits-rf", "learning-curve") == "digits-rf-learning-curve"


def test_field_mapping_is_one_to_one_across_loops():
    names = ["a-b", "ab", "a-bc", "ab-c", "a-b-c", "abc"]
    all_fields = [f for n in names for f in naming.loop_fields(n)]
    assert len(all_fields) == len(set(all_fields))
