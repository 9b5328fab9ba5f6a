"""shipyard's task graph for doit: `doit ship`, `doit list`, `doit patch:ID/REPO`."""

from pipelines.tasks import dodo

globals().update(dodo())
