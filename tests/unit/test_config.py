import pytest

from alflow.config.loop import LoopConfig, parse_loop_config
from alflow.errors import ConfigError

BASE = {
    "name": "digits",
    "dataset": "alflow-digits",
    "features": {"fields": ["pixels"]},
    "initial_labels": {"kind": "field", "field": "seed_labels"},
    "ground_truth_field": "ground_truth",
}


def test_a_valid_config_round_trips_through_json():
    config = parse_loop_config(BASE)
    again = LoopConfig.model_validate_json(config.model_dump_json())
    assert again == config
    assert again.schema_version == 1


def test_bad_loop_name_is_a_config_error_with_the_rule():
    with pytest.raises(ConfigError, match="name.*lowercase letters, digits and single dashes"):
        parse_loop_config({**BASE, "name": "Digits_RF"})


def test_no_initial_labels_needs_a_cold_start_strategy():
    with pytest.raises(ConfigError, match="no initial labels.*cold-start"):
        parse_loop_config({**BASE, "initial_labels": None, "strategy": {"name": "margin"}})


def test_oracle_needs_ground_truth():
    with pytest.raises(ConfigError, match="ground_truth_field"):
        parse_loop_config({**BASE, "ground_truth_field": None, "eval_fraction": 0})


def test_unknown_keys_are_rejected_not_dropped():
    with pytest.raises(ConfigError, match="batchsize"):
        parse_loop_config({**BASE, "batchsize": 5})


def test_tag_source_requires_two_classes():
    with pytest.raises(ConfigError, match="classes"):
        parse_loop_config({**BASE, "initial_labels": {"kind": "tags", "classes": ["cat"]}})


def test_batch_size_must_be_positive():
    with pytest.raises(ConfigError, match="batch_size"):
        parse_loop_config({**BASE, "batch_size": 0})
