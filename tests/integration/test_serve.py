"""deployments/prefect.yaml and deployments/serve.py describe the same, existing flows."""

from __future__ import annotations

import pytest

from deployments import serve
from tests.helpers import FakeServe


@pytest.mark.usefixtures("prefect_server")
def test_serve_refuses_names_a_worker_runs(monkeypatch):
    import prefect
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from alflow.errors import AlflowError

    fake = FakeServe()
    monkeypatch.setattr(prefect, "serve", fake)
    serve.main()
    assert fake.served == [
        "alflow-advance/advance",
        "alflow-create-loop/create-loop",
        "alflow-simulate/simulate",
        "alflow-step/step",
    ]

    fake.served = []
    with get_client(sync_client=True) as client:
        pool = client.create_work_pool(WorkPoolCreate(name="serve-guard", type="process"))
        deployment_id = client.create_deployment(
            flow_id=client.create_flow_from_name("alflow-step"),
            name="step",
            work_pool_name=pool.name,
            entrypoint="flows/loop.py:step_flow",
        )
        try:
            with pytest.raises(AlflowError) as refused:
                serve.main()
        finally:
            client.delete_deployment(deployment_id)
            client.delete_work_pool(pool.name)
    message = str(refused.value)
    assert message.startswith("alflow-step/step (work pool 'serve-guard') already run on a worker")
    assert message.endswith("prefect deployment delete alflow-step/step")
    assert fake.served == []
