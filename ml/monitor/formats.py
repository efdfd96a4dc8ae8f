"""Each cloud's native capture turned into `CaptureRecord`s: the platform's own JSONL, SageMaker, Azure ML.

Why one module of pure parsers: the readers (`ml.monitor.sources`) only move bytes; what a line
means is decided here once, and tested without any storage. Formats:

- platform JSONL (local model server, Kubernetes pods): one `CaptureRecord` per line;
- SageMaker Data Capture: one JSON line per invocation, ``captureData.endpointInput`` /
  ``endpointOutput`` each with ``observedContentType``, ``mode``, ``data`` and ``encoding``
  (``CSV``, ``JSON`` or ``BASE64``), ``eventMetadata.eventId`` / ``inferenceId`` /
  ``inferenceTime``. It records neither the status code (it captures answered requests) nor the
  latency; the variant comes from the key (``<prefix>/<endpoint>/<variant>/YYYY/MM/DD/HH/...``);
- Azure ML data collector: CloudEvents JSON lines in two collections, ``model_inputs`` and
  ``model_outputs`` (``type`` ``azureml.inference.model_inputs|outputs``), whose ``data`` is the
  logged rows and whose ``correlationid`` pairs an input event with its output event.

Request payloads are read as MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``) or CSV rows by `ml.contract.payload`, the parser the platform's own
capture writer shares; unnamed values are named by position, like the reference.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any

from ml.contract.capture import CAPTURE_SCHEMA_VERSION, REQUIRED_FIELDS, CaptureRecord, parse_timestamp
from ml.contract.errors import UserError
from ml.contract.payload import parse_body as _parse_body
from ml.contract.payload import predictions_from_payload, rows_from_payload

Row = dict[str, Any]


def platform_records(lines: Iterable[bytes | str], *, source: str) -> Iterator[CaptureRecord]:
    """The platform's own JSONL; blank lines are skipped, a malformed line names its file and line.

    Why two decoders: a window of 100,000 records is ~100 MB of JSON, mostly floats, and Python's
    ``json`` spends seconds on them. pyarrow's JSON reader (C++, threaded; pyarrow is already here
    for the reference's parquet) decodes a file into columns, timestamps are converted in one cast,
    and only the validation that cannot be vectorised stays per row. A file it cannot take (mixed
    types in a column, a malformed line, a missing field) goes through `_records_one_by_one`, the
    path that names the offending file:line.
    """
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    fast = _columnar_records(raw)
    if fast is not None:
        yield from fast
        return
    yield from _records_one_by_one(raw, source=source)


def _columnar_records(raw: list[bytes]) -> list[CaptureRecord] | None:
    """All records of a well-formed file decoded by pyarrow, or None to take the careful path."""
    data = b"\n".join(line for line in raw if line.strip())
    if not data:
        return []
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.compute as pc  # type: ignore[import-untyped]
        import pyarrow.json as pa_json  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        table = pa_json.read_json(pa.BufferReader(data))
        names = set(table.column_names)
        if not set(REQUIRED_FIELDS) <= names or not pa.types.is_struct(table.schema.field("inputs").type):
            return None
        if "schema_version" in names:
            newest = pc.max(table.column("schema_version")).as_py()
            if newest is not None and (not isinstance(newest, int) or newest > CAPTURE_SCHEMA_VERSION):
                return None
        stamps = table.column("timestamp")
        if pa.types.is_string(stamps.type):
            stamps = pc.cast(stamps, pa.timestamp("us", tz="UTC"))
        if pa.types.is_timestamp(stamps.type):
            seconds = (pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False) / 1e6).tolist()
        else:
            seconds = pc.cast(stamps, pa.float64()).to_pylist()
        rows = table.drop_columns(["timestamp"]).to_pylist()
    except (pa.ArrowException, ValueError, TypeError, KeyError):
        return None
    records = []
    for row, timestamp in zip(rows, seconds, strict=True):
        version = row.get("model_version")
        latency = row.get("latency_ms")
        status = row["status_code"]
        if timestamp is None or status is None or row["inputs"] is None:
            return None
        records.append(
            CaptureRecord(
                request_id=str(row["request_id"]),
                timestamp=float(timestamp),
                endpoint=str(row["endpoint"]),
                deployment=str(row["deployment"]),
                inputs=row["inputs"],
                status_code=int(status),
                model_name=row.get("model_name"),
                model_version=None if version is None else str(version),
                prediction=row.get("prediction"),
                outputs=row.get("outputs") or {},
                latency_ms=None if latency is None else float(latency),
                schema_version=row.get("schema_version") or CAPTURE_SCHEMA_VERSION,
            )
        )
    return records


def _records_one_by_one(raw: list[bytes], *, source: str) -> Iterator[CaptureRecord]:
    """One ``json.loads`` over the file (a JSON array of its lines); line by line only for the message."""
    numbered = [(number, line) for number, line in enumerate(raw, start=1) if line.strip()]
    try:
        documents = json.loads(b"[" + b",".join(line for _, line in numbered) + b"]")
    except json.JSONDecodeError:
        documents = None
    if documents is None or len(documents) != len(numbered):
        for number, line in numbered:
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{source}:{number}: not a JSON line ({exc.msg})") from None
        raise UserError(f"{source}: a line holds more than one JSON value")
    for (number, _), document in zip(numbered, documents, strict=True):
        if not isinstance(document, dict):
            raise UserError(f"{source}:{number}: a capture record is a JSON object, got {type(document).__name__}")
        yield CaptureRecord.from_dict(document, source=source, line=number)


def _decode(block: dict[str, Any]) -> tuple[str, str]:
    """(content type, text) of a SageMaker capture block, undoing BASE64."""
    data = block.get("data", "")
    if str(block.get("encoding", "")).upper() == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
    return str(block.get("observedContentType", "")), str(data)


def sagemaker_records(
    lines: Iterable[bytes | str],
    *,
    source: str,
    endpoint: str,
    deployment: str,
    columns: list[str] | None = None,
) -> Iterator[CaptureRecord]:
    """SageMaker Data Capture lines -> records; ``columns`` name CSV inputs (the reference's columns)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            event = json.loads(line)
            capture = event["captureData"]
            metadata = event["eventMetadata"]
            request_id = str(metadata.get("inferenceId") or metadata["eventId"])
            timestamp = parse_timestamp(metadata["inferenceTime"], source=where)
            in_type, in_text = _decode(capture["endpointInput"])
            inputs = _parse_body(in_type, in_text, columns=columns, rows=True)
            predictions: list[Any] = []
            if "endpointOutput" in capture:
                out_type, out_text = _decode(capture["endpointOutput"])
                predictions = _parse_body(out_type, out_text, columns=None, rows=False)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{where}: not a SageMaker Data Capture line ({type(exc).__name__}: {exc})") from None
        for index, row in enumerate(inputs):
            yield CaptureRecord(
                request_id=request_id if index == 0 else f"{request_id}#{index}",
                timestamp=timestamp,
                endpoint=endpoint,
                deployment=deployment,
                inputs=row,
                status_code=200,
                prediction=predictions[index] if index < len(predictions) else None,
            )


def _azure_events(lines: Iterable[bytes | str], *, source: str, kind: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}:{number}: not a JSON line ({exc.msg})") from None
        for event in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(event, dict) or "correlationid" not in event or "data" not in event:
                raise UserError(f"{source}:{number}: not an Azure ML data collector event (no correlationid/data)")
            if kind not in str(event.get("type", kind)):
                continue
            yield event


def azure_records(
    input_lines: Iterable[tuple[str, Iterable[bytes | str]]],
    output_lines: Iterable[tuple[str, Iterable[bytes | str]]],
    *,
    endpoint: str,
    deployment: str,
    columns: list[str] | None = None,
) -> list[CaptureRecord]:
    """Pair ``model_inputs`` with ``model_outputs`` events by ``correlationid``: one record per input row.

    Each argument is a sequence of (source name, lines) per blob. An input without its output
    (the output blob is not written yet, or was sampled away) still counts, with no prediction.
    """
    outputs: dict[str, list[Any]] = {}
    for source, lines in output_lines:
        for event in _azure_events(lines, source=source, kind="model_outputs"):
            outputs[str(event["correlationid"])] = predictions_from_payload(event["data"])
    records: list[CaptureRecord] = []
    for source, lines in input_lines:
        for event in _azure_events(lines, source=source, kind="model_inputs"):
            request_id = str(event["correlationid"])
            rows = rows_from_payload(event["data"], columns)
            predictions = outputs.get(request_id, [])
            timestamp = parse_timestamp(event.get("time"), source=source)
            version = event.get("modelversion")
            for index, row in enumerate(rows):
                records.append(
                    CaptureRecord(
                        request_id=request_id if index == 0 else f"{request_id}#{index}",
                        timestamp=timestamp,
                        endpoint=endpoint,
                        deployment=deployment,
                        inputs=row,
                        status_code=200,
                        model_version=None if version in (None, "default") else str(version),
                        prediction=predictions[index] if index < len(predictions) else None,
                    )
                )
    return records
