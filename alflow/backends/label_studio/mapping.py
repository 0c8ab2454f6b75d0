"""The pure logic between a batch and Label Studio tasks: labelling config, task JSON, answers.

No Label Studio call here: the session reads projects and tasks and these functions turn a
batch into the labelling config and the tasks to import, and the tasks' annotations into
progress and collected answers.

A task is **done** when it has a submitted annotation (``was_cancelled`` false; drafts are not
annotations), **skipped** when its only annotations are skips (``was_cancelled`` true, what
Label Studio's Skip button makes), else **open**. Skipped and deleted tasks are finished for the
round: their samples go back to the pool, listed as :class:`Unresolved`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from alflow.backends.base import Answer, BatchItem, Collected, Progress, Reference, Unresolved
from alflow.errors import BackendError, preview_ids

CONTROL = "label"  # the <Choices> name: results carry it as from_name
OBJECT = "image"  # the <Image> name and the task data key
MODEL_VERSION = "alflow"  # one per project, so every round's guesses pre-fill the editor
LOCAL_FILES_PREFIX = "/data/local-files/?d="
DONE, SKIPPED, OPEN = "done", "skipped", "open"


# ----------------------------------------------------------------------------- the config
def label_config(classes: Sequence[str]) -> str:
    """A labelling config: the image and one single choice among ``classes``."""
    choices = "".join(f"    <Choice value={quoteattr(c)}/>\n" for c in classes)
    return (
        "<View>\n"
        f'  <Image name="{OBJECT}" value="${OBJECT}"/>\n'
        f'  <Choices name="{CONTROL}" toName="{OBJECT}" choice="single" showInLine="true">\n'
        f"{choices}"
        "  </Choices>\n"
        "</View>\n"
    )


def _parse(config: str, project: str) -> tuple[ET.Element, ET.Element]:
    """The config's root and its ``<Choices name="label">`` element."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise BackendError(
            f"Label Studio project {project!r} has a labelling config that is not XML ({exc}): "
            "fix it in the project's Settings > Labeling Interface"
        ) from None
    for element in root.iter("Choices"):  # iter() includes the root itself
        if element.get("name") == CONTROL:
            return root, element
    raise BackendError(
        f'Label Studio project {project!r} has no <Choices name="{CONTROL}"> in its labelling '
        "config: alflow reads the class from it; put it back in Settings > Labeling Interface"
    )


def choices_of(config: str, project: str = "?") -> list[str]:
    """The class names the project's labelling config offers, in order."""
    return [c.get("value", "") for c in _parse(config, project)[1].iter("Choice")]


def with_classes(config: str, classes: Sequence[str], project: str = "?") -> str | None:
    """The config with a ``<Choice>`` for every class it lacks (None: nothing to add).

    Anything else in the config (a person's instructions, added choices) is kept.
    """
    root, element = _parse(config, project)
    have = {c.get("value") for c in element.iter("Choice")}
    missing = [c for c in dict.fromkeys(classes) if c not in have]
    if not missing:
        return None
    for name in missing:
        ET.SubElement(element, "Choice", {"value": name})
    return ET.tostring(root, encoding="unicode")


# ----------------------------------------------------------------------------- the tasks
def staged_name(index: int, filepath: str) -> str:
    """Upload name of the ``index``-th batch image: unique within the round."""
    return f"{index:06d}_{Path(filepath).name}"


def local_files_url(filepath: str, root: str | None) -> str | None:
    """The ``/data/local-files/?d=...`` URL of a file under Label Studio's document root, or
    None when there is no root or the file lies outside it."""
    if not root:
        return None
    path, base = Path(filepath).resolve(), Path(root).resolve()
    if not path.is_relative_to(base) or path == base:
        return None
    return LOCAL_FILES_PREFIX + quote(path.relative_to(base).as_posix(), safe="/")


def storage_path(filepaths: Sequence[str]) -> str:
    """The media directory a local-files storage must cover: the files' deepest common folder."""
    from os.path import commonpath

    return commonpath([str(Path(p).resolve().parent) for p in filepaths])


def choice_result(label: str) -> list[dict]:
    """A ``result`` holding one choice, as the editor writes it."""
    return [
        {"from_name": CONTROL, "to_name": OBJECT, "type": "choices", "value": {"choices": [label]}}
    ]


def task_json(item: BatchItem, image_url: str, ref: Reference) -> dict:
    """One task to import: the image, alflow's ids, and the guess as a scored prediction."""
    task: dict = {
        "data": {
            OBJECT: image_url,
            "alflow_sample_id": item.sample_id,
            "alflow_loop": ref["loop"],
            "alflow_round": ref["round"],
            "alflow_export": ref["export_id"],
        }
    }
    if item.predicted is not None:
        prediction = {"model_version": MODEL_VERSION, "result": choice_result(item.predicted)}
        if item.confidence is not None:
            prediction["score"] = float(item.confidence)
        task["predictions"] = [prediction]
    return task


# ----------------------------------------------------------------------------- annotations
@dataclass(frozen=True)
class Annotation:
    """One annotation as collect reads it: whether it is a skip, and the choices it names."""

    id: int
    cancelled: bool
    choices: tuple[str, ...]  # every choice of the alflow control, across its results
    completed_by: int | None = None
    updated_at: str | None = None

    @classmethod
    def from_api(cls, data: Mapping) -> Annotation:
        choices = tuple(
            str(choice)
            for result in data.get("result") or ()
            if result.get("from_name") == CONTROL and result.get("type") == "choices"
            for choice in (result.get("value") or {}).get("choices") or ()
        )
        return cls(
            int(data["id"]),
            bool(data.get("was_cancelled")),
            choices,
            data.get("completed_by"),
            None if data.get("updated_at") is None else str(data["updated_at"]),
        )


@dataclass(frozen=True)
class TaskState:
    """A task of the round as collect reads it."""

    id: int
    annotations: tuple[Annotation, ...] = ()

    @property
    def submitted(self) -> list[Annotation]:
        return [a for a in self.annotations if not a.cancelled]

    @property
    def state(self) -> str:
        if self.submitted:
            return DONE
        return SKIPPED if self.annotations else OPEN


def round_tasks(ref: Reference) -> list[tuple[str, int]]:
    """(sample id, task id) of every task the round's reference records."""
    return list(zip(ref["sample_ids"], ref["task_ids"], strict=True))


def progress_of(ref: Reference, tasks: Mapping[int, TaskState]) -> Progress:
    """Finished tasks (done, skipped or deleted) out of the round's tasks."""
    pairs = round_tasks(ref)
    done = sum(1 for _, tid in pairs if tid not in tasks or tasks[tid].state != OPEN)
    return Progress(done=done, total=len(pairs))


def open_tasks(ref: Reference, tasks: Mapping[int, TaskState]) -> list[int]:
    return [tid for _, tid in round_tasks(ref) if tid in tasks and tasks[tid].state == OPEN]


def resolve_tasks(
    ref: Reference, tasks: Mapping[int, TaskState], *, unknown_labels: str = "error"
) -> Collected:
    """Turn the round's tasks into answers, unresolved samples and pending ones.

    Raises:
        BackendError: a choice names a class outside the batch's classes and
            ``unknown_labels`` is ``"error"``.
    """
    predicted: Mapping[str, str | None] = ref.get("predicted") or {}
    classes = set(ref.get("classes") or ())
    answers, unresolved, pending = [], [], []
    for sample_id, task_id in round_tasks(ref):
        task = tasks.get(task_id)
        if task is None:
            unresolved.append(Unresolved(sample_id, f"Label Studio task {task_id} was deleted"))
            continue
        if task.state == OPEN:
            pending.append(sample_id)
            continue
        outcome = _resolve_task(ref, sample_id, task, predicted.get(sample_id))
        if isinstance(outcome, Answer) and outcome.label not in classes:
            _check_unknown(task_id, sample_id, outcome.label, classes, unknown_labels)
        (answers if isinstance(outcome, Answer) else unresolved).append(outcome)
    return Collected(tuple(answers), tuple(unresolved), tuple(pending))


def _resolve_task(
    ref: Reference, sample_id: str, task: TaskState, predicted: str | None
) -> Answer | Unresolved:
    where = f"Label Studio task {task.id}"
    if task.state == SKIPPED:
        users = preview_ids(sorted({str(a.completed_by) for a in task.annotations}))
        return Unresolved(sample_id, f"{where} was skipped (by user {users})")
    for annotation in task.submitted:
        if len(annotation.choices) != 1:
            named = ", ".join(annotation.choices) or "none"
            return Unresolved(
                sample_id,
                f"annotation {annotation.id} of {where} has {len(annotation.choices)} choices "
                f"({named}); expected one",
            )
    labels = sorted({a.choices[0] for a in task.submitted})
    if len(labels) > 1:
        return Unresolved(
            sample_id, f"the annotations of {where} disagree ({', '.join(labels)}); expected one"
        )
    latest = max(task.submitted, key=lambda a: (a.updated_at or "", a.id))
    provenance = {
        "source": "label_studio",
        "label_studio_project_id": ref["project_id"],
        "label_studio_task_id": task.id,
        "label_studio_annotation_id": latest.id,
        "label_studio_annotator": latest.completed_by,  # the user id
        "label_studio_annotated_at": latest.updated_at,
        "label_studio_annotations": len(task.submitted),
        "predicted": predicted,
        "changed": labels[0] != predicted,
    }
    return Answer(sample_id, labels[0], provenance)


def _check_unknown(
    task_id: int, sample_id: str, label: str, classes: set[str], policy: str
) -> None:
    if policy == "new_class":
        return
    raise BackendError(
        f"Label Studio task {task_id} (sample {sample_id}) is labelled {label!r}, which is not "
        f"one of the loop's classes ({', '.join(sorted(classes))}): change the annotation in "
        "Label Studio, or set backend.unknown_labels='new_class' to accept new classes"
    )
