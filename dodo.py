"""shipyard's task graph for doit: `doit ship`, `doit list`, `doit patch:ID/REPO`."""

from pipelines.tasks import DOIT_CONFIG, task_plan, task_ship, task_ticket  # noqa: F401
