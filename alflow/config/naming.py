"""The one rule that derives every name alflow writes from a loop name.

Loop names are lowercase letters, digits and single dashes, starting with a letter, at most 40
characters: valid as Prefect artifact keys, CVAT project/task names and FiftyOne view names. In
FiftyOne field names the dashes become underscores (dashes are legal in MongoDB but break attribute
access and ``F()`` paths); since loop names never contain underscores the mapping is one-to-one, so
two loops can never write the same field.

=====================  ==========================================  ==========================
what                   rule                                        loop ``digits-rf``
=====================  ==========================================  ==========================
label field            ``al_<slug>_label``                         ``al_digits_rf_label``
prediction field       ``al_<slug>_prediction``                    ``al_digits_rf_prediction``
split field            ``al_<slug>_split`` (``pool``/``eval``)     ``al_digits_rf_split``
review field (App)     ``al_<slug>_review``                        ``al_digits_rf_review``
round field (App)      ``al_<slug>_round`` (the batch's round)     ``al_digits_rf_round``
round view / task      ``<loop>-round-NNN``                        ``digits-rf-round-003``
CVAT project           ``alflow-<loop>``                           ``alflow-digits-rf``
artifact keys          ``<loop>-<what>``                           ``digits-rf-learning-curve``
=====================  ==========================================  ==========================

Loops shown in the App before the round field existed tagged a round's batch
``al:<loop>:round-NNN``; those tags are only ever removed now (:func:`round_tag_prefix`).
"""

from __future__ import annotations

import re

from alflow.errors import ConfigError

LOOP_NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
LOOP_NAME_MAX = 40
_LOOP_NAME_RE = re.compile(LOOP_NAME_PATTERN)
FIELD_PREFIX = "al_"


def validate_loop_name(name: str) -> str:
    """Return ``name`` if it follows the naming rule, else raise a ConfigError saying why."""
    if not isinstance(name, str) or not name:
        raise ConfigError("loop name is empty: give a name such as 'digits-rf'")
    if len(name) > LOOP_NAME_MAX:
        raise ConfigError(
            f"loop name {name!r} has {len(name)} characters; at most {LOOP_NAME_MAX} are allowed"
        )
    if not _LOOP_NAME_RE.match(name):
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "my-loop"
        if not suggestion[0].isalpha():
            suggestion = f"loop-{suggestion}"
        raise ConfigError(
            f"loop name {name!r} breaks the naming rule: use lowercase letters, digits and single "
            f"dashes, starting with a letter (for example {suggestion!r})"
        )
    return name


def slug(loop: str) -> str:
    """The loop name as a FiftyOne field-name fragment (dashes become underscores)."""
    return validate_loop_name(loop).replace("-", "_")


def label_field(loop: str) -> str:
    """Field holding the labels the loop learns from, with provenance attributes."""
    return f"{FIELD_PREFIX}{slug(loop)}_label"


def prediction_field(loop: str) -> str:
    """Field holding the loop's latest prediction and confidence per sample."""
    return f"{FIELD_PREFIX}{slug(loop)}_prediction"


def split_field(loop: str) -> str:
    """Field marking each sample ``pool`` or ``eval`` for this loop."""
    return f"{FIELD_PREFIX}{slug(loop)}_split"


def review_field(loop: str) -> str:
    """Field the in-App review pre-fills with the prediction and the reviewer may edit."""
    return f"{FIELD_PREFIX}{slug(loop)}_review"


def round_field(loop: str) -> str:
    """Int field the in-App review sets on a round's batch: the number of that round.

    Only a display aid (the App's sidebar filters on it); which samples are in a batch is the
    ledger's record, never this field.
    """
    return f"{FIELD_PREFIX}{slug(loop)}_round"


def review_surface_fields(loop: str) -> tuple[str, str]:
    """The fields only the in-App review writes: the review field and the round field."""
    return review_field(loop), round_field(loop)


def loop_fields(loop: str) -> tuple[str, ...]:
    """Every sample field the loop writes; nothing else is ever written by it."""
    return (
        label_field(loop),
        prediction_field(loop),
        split_field(loop),
        *review_surface_fields(loop),
    )


def round_tag_prefix(loop: str) -> str:
    """Prefix of the round tags (``al:<loop>:round-NNN``) that loops shown in the App before
    the round field existed put on their batches; only used to remove them. Colons never occur
    in loop names, so the prefix is the loop's alone."""
    return f"al:{validate_loop_name(loop)}:"


def is_round_view(loop: str, view_name: str) -> bool:
    """Whether a saved view name is one of the loop's round views."""
    return (
        re.fullmatch(rf"{re.escape(validate_loop_name(loop))}-round-\d{{3,}}", view_name)
        is not None
    )


def round_name(loop: str, round_number: int) -> str:
    """Flow run name, CVAT task name and saved-view name of a round."""
    return f"{validate_loop_name(loop)}-round-{round_number:03d}"


def loop_run_tag(loop: str) -> str:
    """Prefect tag on every run a step starts for the loop's rounds (round runs and their tasks)."""
    return f"loop:{validate_loop_name(loop)}"


def round_run_tags(loop: str, round_number: int) -> tuple[str, str]:
    """Prefect tags of a round's runs: the loop's tag and ``round:<n>``."""
    return loop_run_tag(loop), f"round:{round_number}"


def cvat_project_name(loop: str) -> str:
    """Name of the CVAT project holding every round task of a loop."""
    return f"alflow-{validate_loop_name(loop)}"


def artifact_key(loop: str, what: str) -> str:
    """Prefect artifact key for one of the loop's artifacts (lowercase, dashes)."""
    return f"{validate_loop_name(loop)}-{what}"
