"""The OpenAPI document of `envsim serve`, derived from the pydantic wire types (never edited by hand,
so it cannot drift from what the handlers validate and return)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from envsim.pairs.types import Example, JobStatus, PairsRequest

API_PREFIX = "/data/generate_input_response_pairs"
API_KEY_HEADER = "x-api-key"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(version: str, *, auth: bool) -> dict[str, Any]:
    _, top = models_json_schema(
        [(PairsRequest, "validation"), (JobStatus, "serialization"), (Example, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    schemas = top.get("$defs", {})
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    errors = {
        "401": {"description": "missing or wrong x-api-key"},
        "404": {"description": "no such job"},
        "422": {"description": "the request body is invalid"},
    }
    stream_note = "Streamed (chunked) while the job runs; the response ends when the job is DONE, ERROR or CANCELLED."
    paths: dict[str, Any] = {
        API_PREFIX: {
            "post": {
                "summary": "Start a Generate Input-Response Pairs job",
                "operationId": "start_job",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PairsRequest")}}},
                "responses": {"200": _json(_ref("JobStatus"), "the new job (QUEUED)"), **errors},
            },
            "get": {
                "summary": "List the jobs (without their data)",
                "operationId": "list",
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["QUEUED", "RUNNING", "DONE", "ERROR", "CANCELLED"]},
                    }
                ],
                "responses": {"200": _json({"type": "array", "items": _ref("JobStatus")}, "the jobs"), **errors},
            },
        },
        f"{API_PREFIX}/{{job_id}}": {
            "get": {
                "summary": "Check a job's status; `data` holds the pairs so far",
                "operationId": "retrieve",
                "parameters": [job_id],
                "responses": {"200": _json(_ref("JobStatus"), "the job"), **errors},
            },
            "delete": {
                "summary": "Cancel a job (recorded pairs are kept)",
                "operationId": "cancel",
                "parameters": [job_id],
                "responses": {"200": _json({"type": "string"}, "a confirmation"), **errors},
            },
        },
        f"{API_PREFIX}/{{job_id}}/data": {
            "get": {
                "summary": "Stream the job's pairs as a JSON array",
                "description": stream_note,
                "operationId": "stream_data",
                "parameters": [job_id],
                "responses": {"200": _json({"type": "array", "items": _ref("Example")}, "the pairs"), **errors},
            }
        },
        f"{API_PREFIX}/{{job_id}}/messages": {
            "get": {
                "summary": "Stream the job's status messages, one per line",
                "description": stream_note,
                "operationId": "stream_messages",
                "parameters": [job_id],
                "responses": {
                    "200": {"description": "status lines", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    **errors,
                },
            }
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "envsim pairs job service", "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if auth:
        document["components"]["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
        }
        document["security"] = [{"ApiKey": []}]
    return document
