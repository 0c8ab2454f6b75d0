"""The stand-in answers cvat-sdk 2.80's high-level calls as the recorded real CVAT 2.73 did.

Each test drives cvat-sdk itself, so a reply missing a field the SDK's models require fails here
rather than in a backend test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import urllib3
from cvat_sdk import make_client, models
from cvat_sdk.api_client import exceptions, rest
from cvat_sdk.core.exceptions import BackgroundRequestException
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from PIL import Image

from .server import CvatStandIn


def _images(folder: Path, names: list[str]) -> list[Path]:
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16 + i, 12), (i * 40 % 256, 0, 0)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def client(cvat_server: CvatStandIn):
    with make_client(
        cvat_server.url, credentials=(cvat_server.username, cvat_server.password)
    ) as c:
        c.config.status_check_period = 0.01
        yield c


@pytest.fixture
def project(client):
    return client.projects.create({"name": "shape", "labels": [{"name": "cat"}, {"name": "dog"}]})


def _task(client, project, files, **spec):
    return client.tasks.create_from_data(
        {"name": "loop-round-001", "project_id": project.id, **spec}, files
    )


def test_reference_call_sequence(cvat_server, client, project, tmp_path):
    files = _images(tmp_path, ["s0.png", "s1.png", "s2.png", "s3.png"])
    task = _task(client, project, files, segment_size=3)
    assert task.size == 4
    assert [f.name for f in task.get_frames_info()] == ["s0.png", "s1.png", "s2.png", "s3.png"]

    jobs = sorted(task.get_jobs(), key=lambda j: j.start_frame)
    assert [(j.start_frame, j.stop_frame) for j in jobs] == [(0, 2), (3, 3)]
    assert all(j.state == "new" and j.stage == "annotation" for j in jobs)

    labels = {lb.name: lb.id for lb in task.get_labels()}
    task.set_annotations(
        models.LabeledDataRequest(
            tags=[models.LabeledImageRequest(frame=i, label_id=labels["cat"]) for i in range(4)]
        )
    )
    first = jobs[0].get_annotations()
    assert [t.frame for t in first.tags] == [0, 1, 2]
    assert all(t.id is not None for t in first.tags)  # ids come from the server

    tag = first.tags[1]
    jobs[0].update_annotations(
        models.PatchedLabeledDataRequest(
            tags=[models.LabeledImageRequest(id=tag.id, frame=tag.frame, label_id=labels["dog"])]
        ),
        action=AnnotationUpdateAction.UPDATE,
    )
    jobs[0].update({"stage": "acceptance", "state": "completed"})
    assert (jobs[0].state, jobs[0].stage) == ("completed", "acceptance")
    assert cvat_server.tags(task.id) == [(0, "cat"), (1, "dog"), (2, "cat"), (3, "cat")]

    listed = client.jobs.list(task_id=task.id)
    assert {j.id: j.state for j in listed} == {jobs[0].id: "completed", jobs[1].id: "new"}

    task.remove()
    with pytest.raises(exceptions.NotFoundException):
        client.tasks.retrieve(task.id)


def test_frames_sorted_by_name_unless_predefined(client, project, tmp_path):
    files = _images(tmp_path, ["zeta.png", "alpha.png", "mid.png"])
    by_name = _task(client, project, files)
    assert [f.name for f in by_name.get_frames_info()] == ["alpha.png", "mid.png", "zeta.png"]

    kept = client.tasks.create_from_data(
        {"name": "kept", "project_id": project.id},
        files,
        data_params={"sorting_method": "predefined"},
    )
    assert [f.name for f in kept.get_frames_info()] == ["zeta.png", "alpha.png", "mid.png"]


def test_frames_carry_base_names_and_same_names_collapse(cvat_server, client, project, tmp_path):
    files = _images(tmp_path, ["a/img.png", "b/img.png", "b/other.png"])
    task = _task(client, project, files)
    assert [f.name for f in task.get_frames_info()] == ["img.png", "other.png"]


def test_task_list_filters_by_name_and_project(client, project, tmp_path):
    files = _images(tmp_path, ["x.png"])
    other = client.projects.create({"name": "other", "labels": [{"name": "cat"}]})
    _task(client, project, files)
    _task(client, other, files)
    client.tasks.create_from_data({"name": "else", "project_id": project.id}, files)
    found = client.tasks.list(name="loop-round-001", project_id=project.id)
    assert [t.project_id for t in found] == [project.id]


def test_lists_page_like_cvat(client, project, tmp_path):
    files = _images(tmp_path, ["x.png"])
    for n in range(12):
        client.tasks.create_from_data({"name": f"t{n}", "project_id": project.id}, files)
    assert len(client.tasks.list(project_id=project.id)) == 12  # two pages of ten


def test_project_patch_adds_a_label(client, project):
    project.update({"labels": [{"name": "bird"}]})
    assert [lb.name for lb in project.get_labels()] == ["cat", "dog", "bird"]
    with pytest.raises(exceptions.ApiException) as caught:
        project.update({"labels": [{"name": "cat"}]})
    assert caught.value.status == 400


def test_job_assignee_and_users(cvat_server, client, project, tmp_path):
    annotator = cvat_server.add_user("alice")
    task = _task(client, project, _images(tmp_path, ["x.png"]))
    (user,) = client.users.list(username="alice")
    job = task.get_jobs()[0].update({"assignee": user.id})
    assert job.assignee.username == "alice" and user.id == annotator


def test_job_put_replaces_only_its_frames(cvat_server, client, project, tmp_path):
    task = _task(client, project, _images(tmp_path, ["a.png", "b.png", "c.png"]), segment_size=2)
    labels = {lb.name: lb.id for lb in task.get_labels()}
    task.set_annotations(
        models.LabeledDataRequest(
            tags=[models.LabeledImageRequest(frame=i, label_id=labels["cat"]) for i in range(3)]
        )
    )
    second = sorted(task.get_jobs(), key=lambda j: j.start_frame)[1]
    second.set_annotations(
        models.LabeledDataRequest(
            tags=[models.LabeledImageRequest(frame=2, label_id=labels["dog"])]
        )
    )
    assert cvat_server.tags(task.id) == [(0, "cat"), (1, "cat"), (2, "dog")]
    anns = task.get_annotations()
    assert (anns.shapes, anns.tracks) == ([], [])


def test_annotation_patch_create_and_delete(cvat_server, client, project, tmp_path):
    task = _task(client, project, _images(tmp_path, ["a.png", "b.png"]))
    cat = cvat_server.label_id(project.id, "cat")
    task.update_annotations(
        models.PatchedLabeledDataRequest(tags=[models.LabeledImageRequest(frame=1, label_id=cat)]),
        action=AnnotationUpdateAction.CREATE,
    )
    assert cvat_server.tags(task.id) == [(1, "cat")]
    task.remove_annotations(ids=[task.get_annotations().tags[0].id])
    assert cvat_server.tags(task.id) == []


def test_tag_with_foreign_label_is_refused(client, project, tmp_path):
    task = _task(client, project, _images(tmp_path, ["a.png"]))
    with pytest.raises(exceptions.ApiException) as caught:
        task.set_annotations(
            models.LabeledDataRequest(tags=[models.LabeledImageRequest(frame=0, label_id=999)])
        )
    assert caught.value.status == 400


def test_bad_credentials_answer_400(cvat_server):
    with pytest.raises(exceptions.ApiException) as caught:
        make_client(cvat_server.url, credentials=(cvat_server.username, "wrong"))
    assert caught.value.status == 400


def _self_with(cvat_server, authorization: str):
    return urllib3.PoolManager().request(
        "GET", cvat_server.url + "/api/users/self", headers={"Authorization": authorization}
    )


def test_each_token_kind_only_with_its_own_scheme_as_in_cvat(cvat_server):
    """Access tokens go as Bearer, the login key as Token; a swapped scheme gets 401."""
    login = urllib3.PoolManager().request(
        "POST",
        cvat_server.url + "/api/auth/login",
        json={"username": cvat_server.username, "password": cvat_server.password},
    )
    key = login.json()["key"]
    reply = _self_with(cvat_server, f"Bearer {cvat_server.token}")
    assert reply.status == 200 and reply.json()["username"] == cvat_server.username
    assert _self_with(cvat_server, f"Token {key}").status == 200
    assert _self_with(cvat_server, f"Token {cvat_server.token}").status == 401
    assert _self_with(cvat_server, f"Bearer {key}").status == 401


def test_access_token_credentials(cvat_server):
    with make_client(cvat_server.url, access_token=cvat_server.token) as c:
        assert c.users.retrieve_current_user().username == cvat_server.username


def test_anonymous_requests_are_refused(cvat_server):
    with make_client(cvat_server.url) as c, pytest.raises(exceptions.UnauthorizedException):
        c.projects.list()


def test_fail_next_then_success(cvat_server, client):
    # without urllib3's own status retries, so each injected 503 reaches the caller
    client.api_client.configuration.retries = None
    client.api_client.rest_client = rest.RESTClientObject(client.api_client.configuration)
    cvat_server.fail_next(2, status=503, path=r"^/api/projects$")
    for _ in range(2):
        with pytest.raises(exceptions.ServiceException):
            client.projects.list()
    assert client.projects.list() == []
    assert cvat_server.count("GET", r"^/api/projects$") == 3


def test_request_polling_and_failed_processing(cvat_server, client, project, tmp_path):
    cvat_server.state.request_polls = 1  # 'started' once, then the result
    cvat_server.fail_data_processing("disk full")
    with pytest.raises(BackgroundRequestException, match="disk full"):
        _task(client, project, _images(tmp_path, ["a.png"]))


def test_stop_refuses_connections(cvat_server):
    url = cvat_server.url
    cvat_server.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.PoolManager(retries=False).request("GET", url + "/api/server/about")
    cvat_server.start()
    assert cvat_server.url == url
    assert urllib3.PoolManager().request("GET", url + "/api/server/about").status == 200


def test_shapes_and_tracks_come_back_with_cvat_s_fields_through_sdk_validation(
    cvat_server, client, project, tmp_path
):
    task = _task(client, project, _images(tmp_path, ["a.png", "b.png"]))
    cat = cvat_server.label_id(project.id, "cat")
    task.set_annotations(
        models.LabeledDataRequest(
            shapes=[
                models.LabeledShapeRequest(
                    type="rectangle", frame=0, label_id=cat, points=[1, 2, 5, 7], source="auto"
                )
            ],
            tracks=[
                models.LabeledTrackRequest(
                    frame=1,
                    label_id=cat,
                    shapes=[
                        models.TrackedShapeRequest(
                            type="polygon", frame=1, points=[1, 1, 3, 1, 3, 3]
                        )
                    ],
                )
            ],
        )
    )
    anns = task.get_annotations()  # cvat-sdk checks every field's type
    (shape,) = anns.shapes
    assert (shape.type.value, shape.points, shape.source) == ("rectangle", [1, 2, 5, 7], "auto")
    assert (shape.occluded, shape.outside, shape.z_order, shape.rotation) == (False, False, 0, 0.0)
    stored = cvat_server.state.annotations(task.id)["shapes"][0]
    assert set(stored) == {
        "id", "type", "frame", "label_id", "group", "source", "attributes", "occluded",
        "outside", "z_order", "rotation", "points", "score", "elements",
    }  # fmt: skip
    (track,) = anns.tracks
    assert track.shapes[0].type.value == "polygon" and track.shapes[0].outside is False
