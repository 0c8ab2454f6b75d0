"""JSON replies shaped like a real CVAT 2.73 server's, field for field.

cvat-sdk deserializes every reply into its generated models and raises on a missing required
field, so these follow the recorded replies in ``/work/shared/reference/cvat-rest-calls.md``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .state import CvatState, Job, Label, Project, Request, Task, User

CHUNK_SIZE = 72


def basic_user(base: str, user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "url": f"{base}/api/users/{user.id}",
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }


def full_user(base: str, user: User) -> dict[str, Any]:
    return {
        **basic_user(base, user),
        "email": f"{user.username}@example.invalid",
        "groups": ["admin"] if user.is_superuser else ["user"],
        "is_staff": user.is_superuser,
        "is_superuser": user.is_superuser,
        "is_active": True,
        "last_login": None,
        "date_joined": user.date_joined,
        "has_analytics_access": user.is_superuser,
    }


def label(lb: Label) -> dict[str, Any]:
    body = {
        "id": lb.id,
        "name": lb.name,
        "color": lb.color,
        "attributes": [],
        "type": "any",
        "sublabels": [],
        "parent_id": None,
        "has_parent": False,
    }
    if lb.project_id is not None:
        body["project_id"] = lb.project_id
    else:
        body["task_id"] = lb.task_id
    return body


def project(base: str, state: CvatState, p: Project) -> dict[str, Any]:
    tasks = [t for t in state.tasks.values() if t.project_id == p.id]
    return {
        "url": f"{base}/api/projects/{p.id}",
        "id": p.id,
        "name": p.name,
        "owner": basic_user(base, state.user(p.owner_id)),
        "assignee": None,
        "guide_id": None,
        "bug_tracker": "",
        "task_subsets": sorted({t.subset for t in tasks if t.subset}),
        "created_date": p.created_date,
        "updated_date": p.updated_date,
        "status": "annotation",
        "dimension": "2d" if any(t.frames is not None for t in tasks) else None,
        "organization": None,
        "organization_id": None,
        "target_storage": None,
        "source_storage": None,
        "assignee_updated_date": None,
        "tasks": {"count": len(tasks), "url": f"{base}/api/tasks?project_id={p.id}"},
        "labels": {"url": f"{base}/api/labels?project_id={p.id}"},
    }


def _status(stages: list[str]) -> str:
    """A task's or job's status, derived from its jobs' stages as CVAT derives it."""
    if stages and all(stage == "acceptance" for stage in stages):
        return "completed"
    if any(stage == "validation" for stage in stages):
        return "validation"
    return "annotation"


def task(base: str, state: CvatState, t: Task) -> dict[str, Any]:
    jobs = state.task_jobs(t.id)
    p = state.projects.get(t.project_id) if t.project_id is not None else None
    body: dict[str, Any] = {
        "url": f"{base}/api/tasks/{t.id}",
        "id": t.id,
        "name": t.name,
        "project_id": t.project_id,
        "project_name": p.name if p else None,
        "owner": basic_user(base, state.user(t.owner_id)),
        "assignee": basic_user(base, state.user(t.assignee_id)),
        "bug_tracker": "",
        "created_date": t.created_date,
        "updated_date": t.updated_date,
        "overlap": 0 if t.frames is not None else None,
        "segment_size": t.segment_size,
        "status": _status([j.stage for j in jobs]),
        "data_cloud_storage_id": None,
        "guide_id": None,
        "subset": t.subset,
        "organization_id": None,
        "organization": None,
        "target_storage": None,
        "source_storage": None,
        "jobs": {
            "count": len(jobs),
            "completed": sum(1 for j in jobs if j.state == "completed"),
            "validation": sum(1 for j in jobs if j.stage == "validation"),
            "url": f"{base}/api/jobs?task_id={t.id}",
        },
        "labels": {"url": f"{base}/api/labels?task_id={t.id}"},
        "assignee_updated_date": None,
        "validation_mode": None,
        "consensus_enabled": False,
    }
    if t.frames is not None:  # like CVAT's serializer, the data fields exist once data does
        body.update(
            {
                "data_chunk_size": CHUNK_SIZE,
                "data_original_chunk_type": "imageset",
                "data_compressed_chunk_type": "imageset",
                "size": t.size,
                "image_quality": t.image_quality,
                "data": t.data_id,
                "dimension": "2d",
                "mode": "annotation",
                "media_type": "image",
            }
        )
    return body


def job(base: str, state: CvatState, j: Job) -> dict[str, Any]:
    t = state.task(j.task_id)
    p = state.projects.get(t.project_id) if t.project_id is not None else None
    return {
        "url": f"{base}/api/jobs/{j.id}",
        "id": j.id,
        "task_id": t.id,
        "task_name": t.name,
        "project_id": t.project_id,
        "project_name": p.name if p else None,
        "assignee": basic_user(base, state.user(j.assignee_id)),
        "guide_id": None,
        "dimension": "2d",
        "mode": "annotation",
        "media_type": "image",
        "bug_tracker": "",
        "status": _status([j.stage]),
        "stage": j.stage,
        "state": j.state,
        "frame_count": j.frame_count,
        "start_frame": j.start_frame,
        "stop_frame": j.stop_frame,
        "data_chunk_size": CHUNK_SIZE,
        "data_compressed_chunk_type": "imageset",
        "data_original_chunk_type": "imageset",
        "created_date": j.created_date,
        "updated_date": j.updated_date,
        "issues": {"url": f"{base}/api/issues?job_id={j.id}", "count": 0},
        "labels": {"url": f"{base}/api/labels?job_id={j.id}"},
        "type": j.type,
        "organization": None,
        "target_storage": None,
        "source_storage": None,
        "assignee_updated_date": None,
        "parent_job_id": None,
        "replicas_count": 0,
        "consensus_replicas": 0,
    }


def data_meta(t: Task, frames_of: Job | None = None) -> dict[str, Any]:
    frames = t.frames or []
    start, stop = (
        (0, len(frames) - 1) if frames_of is None else (frames_of.start_frame, frames_of.stop_frame)
    )
    return {
        "chapters": None,
        "chunks_updated_date": t.updated_date,
        "chunk_size": CHUNK_SIZE,
        "size": stop - start + 1 if frames else 0,
        "image_quality": t.image_quality,
        "start_frame": start,
        "stop_frame": stop,
        "frame_filter": "",
        "frames": [
            {
                "width": f.width,
                "height": f.height,
                "name": f.name,
                "related_files": 0,
                "has_related_context": False,
            }
            for f in frames[start : stop + 1]
        ],
        "deleted_frames": [],
        "included_frames": None,
        "storage": "local",
        "cloud_storage_id": None,
    }


def request(state: CvatState, r: Request, status: str) -> dict[str, Any]:
    owner = state.user(r.owner_id)
    return {
        "status": status,
        "message": r.message if status == "failed" else "",
        "id": r.id,
        "operation": {
            "type": r.type,
            "target": r.target,
            "project_id": r.project_id,
            "task_id": r.task_id,
            "job_id": None,
            "org_id": None,
            "format": None,
            "lightweight": None,
        },
        "progress": 0.0,
        "created_date": r.created_date,
        "started_date": r.created_date,
        "finished_date": r.finished_date if status in ("finished", "failed") else None,
        "expiry_date": None,
        "owner": {"id": owner.id, "username": owner.username},
        "result_url": None,
        "result_id": r.task_id if status == "finished" else None,
    }


def page(base: str, path: str, query: dict[str, str], results: list[Any]) -> dict[str, Any]:
    """One page of a list, with CVAT's default page size of 10 unless ``page_size`` is given."""
    size = int(query.get("page_size") or 10)
    number = int(query.get("page") or 1)
    start = (number - 1) * size
    more = start + size < len(results)

    def link(n: int) -> str:
        return f"{base}{path}?{urlencode({**query, 'page': n})}"

    return {
        "count": len(results),
        "next": link(number + 1) if more else None,
        "previous": link(number - 1) if number > 1 else None,
        "results": results[start : start + size],
    }
