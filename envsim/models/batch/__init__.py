"""Batch inference: chat requests run through the OpenAI Batch API or Anthropic Message Batches.

    task = BatchTask.create("batch_work_dir", "attrs", backend_spec)   # a named task in a work directory
    task.add(request)                      # ModelRequests (or chat rows), in order
    await task.run()                       # partition, upload, submit, poll, download, resubmit, merge
    task.results()                         # one result per request, in request order

Every state change is saved in the work directory, so a client killed at any point resumes where it was.
"""

from envsim.models.batch.backend import BatchBackend, BatchLimits, RemoteStatus, RowResult
from envsim.models.batch.spec import BackendSpec, create_backend
from envsim.models.batch.task import BatchTask, TaskStatus

__all__ = [
    "BackendSpec",
    "BatchBackend",
    "BatchLimits",
    "BatchTask",
    "RemoteStatus",
    "RowResult",
    "TaskStatus",
    "create_backend",
]
