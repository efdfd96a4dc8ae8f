"""Where a stack's captures are and how to read them: local files, S3 (boto3), Azure blob storage.

Why one place: `ml monitor` must not know which cloud wrote what. `capture_location` decides, once,
where a stack's capture lives (``--capture URI`` overrides it); `read_capture` lists the files of
a window (skipping whole hours by their ``YYYY/MM/DD/HH`` key), recognises each file's format
(the platform's own records, SageMaker Data Capture, or Azure ML's collector events) and returns
`CaptureRecord`s in the window. Kubernetes pods write the platform's shape to the stack's
S3-compatible bucket, so the S3 reader covers them. Cloud SDKs are imported when used.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml.contract import PlatformOutputs
from ml.contract.capture import DEFAULT_CAPTURE_PREFIX, CaptureRecord
from ml.contract.errors import UserError
from ml.monitor.formats import azure_records, platform_records, sagemaker_records

_HOUR = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/")
_AZURE_COLLECTION = re.compile(r"(?:^|/)([^/]+)/([^/]+)/(model_inputs|model_outputs)/")


@dataclass(frozen=True)
class CaptureLocation:
    """A capture root: ``file``, ``s3`` or ``azure`` plus its container/bucket and key prefix."""

    scheme: str
    container: str
    prefix: str
    account_url: str | None = None

    @property
    def uri(self) -> str:
        if self.scheme == "file":
            return str(Path(self.container) / self.prefix)
        if self.scheme == "s3":
            return f"s3://{self.container}/{self.prefix}"
        return f"{self.account_url}/{self.container}/{self.prefix}"


def parse_capture_uri(uri: str) -> CaptureLocation:
    """``s3://bucket/prefix``, ``https://<account>.blob.core.windows.net/<container>/<prefix>``, or a path."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return CaptureLocation("s3", parsed.netloc, parsed.path.lstrip("/"))
    if parsed.scheme in ("http", "https"):
        parts = parsed.path.lstrip("/").split("/", 1)
        if not parts[0]:
            raise UserError(
                f"capture URI {uri}: name the blob container, e.g. https://<account>.blob.core.windows.net/<container>/capture/"
            )
        # Azurite-style URLs (http://127.0.0.1:10000/<account>/<container>/...) keep the account in the path.
        if parsed.hostname in ("127.0.0.1", "localhost") and len(parsed.path.lstrip("/").split("/")) >= 2:
            account, rest = parsed.path.lstrip("/").split("/", 1)
            parts = rest.split("/", 1)
            return CaptureLocation(
                "azure", parts[0], parts[1] if len(parts) > 1 else "", f"{parsed.scheme}://{parsed.netloc}/{account}"
            )
        return CaptureLocation(
            "azure", parts[0], parts[1] if len(parts) > 1 else "", f"{parsed.scheme}://{parsed.netloc}"
        )
    if parsed.scheme in ("", "file"):
        return CaptureLocation("file", parsed.path if parsed.scheme == "file" else uri, "")
    raise UserError(f"capture URI {uri}: scheme '{parsed.scheme}' is not one of s3://, https:// (Azure blob), a path")


def capture_location(outputs: PlatformOutputs, *, home: Path) -> CaptureLocation:
    """The stack's capture root: its exported ``monitoring.capture_uri`` (`mlops:monitoring`), else
    ``<home>/capture`` locally and ``<artifact store>/capture/`` for stacks exported before it existed."""
    if outputs.monitoring is not None:
        return parse_capture_uri(outputs.monitoring.capture_uri)
    if outputs.cloud == "local":
        return CaptureLocation("file", str(home / DEFAULT_CAPTURE_PREFIX.rstrip("/")), "")
    base = parse_capture_uri(outputs.artifacts.uri)
    prefix = f"{base.prefix.rstrip('/')}/{DEFAULT_CAPTURE_PREFIX}" if base.prefix else DEFAULT_CAPTURE_PREFIX
    return CaptureLocation(base.scheme, base.container, prefix, base.account_url)


def _hour_in_window(key: str, since: float, until: float) -> bool:
    """False only for keys whose ``/YYYY/MM/DD/HH/`` hour lies wholly outside [since, until]."""
    match = _HOUR.search("/" + key)
    if match is None:
        return True
    year, month, day, hour = (int(part) for part in match.groups())
    try:
        start = dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp()
    except ValueError:
        return True
    return start + 3600 > since and start <= until


def _endpoint_and_deployment(key: str, prefix: str) -> tuple[str, str]:
    """SageMaker and platform keys: ``<prefix><endpoint>/<variant or colour>/YYYY/...``."""
    parts = key[len(prefix) :].lstrip("/").split("/")
    return (parts[0], parts[1]) if len(parts) >= 3 else ("unknown", "unknown")


def records_of_file(key: str, lines: list[bytes], *, prefix: str, columns: list[str] | None) -> Iterator[CaptureRecord]:
    """A platform or SageMaker file, recognised by its first line."""
    first = next((line for line in lines if line.strip()), b"")
    if b'"captureData"' in first:
        endpoint, deployment = _endpoint_and_deployment(key, prefix)
        yield from sagemaker_records(lines, source=key, endpoint=endpoint, deployment=deployment, columns=columns)
    else:
        yield from platform_records(lines, source=key)


class _Store:
    """List keys under a prefix and read one key's lines: the only thing that differs per storage."""

    def list_keys(self) -> Iterator[str]:
        raise NotImplementedError

    def lines(self, key: str) -> list[bytes]:
        raise NotImplementedError


class _Files(_Store):
    def __init__(self, root: Path) -> None:
        self.root = root

    def list_keys(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*.jsonl")):
            yield path.relative_to(self.root).as_posix()

    def lines(self, key: str) -> list[bytes]:
        return (self.root / key).read_bytes().splitlines()


class _S3(_Store):
    def __init__(self, location: CaptureLocation, region: str, client: Any = None) -> None:
        from ml import aws

        self.location = location
        self.client = client or aws.client("s3", region)
        self._aws = aws

    def list_keys(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.location.container, Prefix=self.location.prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith((".jsonl", ".json")):
                        yield item["Key"]
        except Exception as exc:
            raise self._aws.user_error(f"list the capture at {self.location.uri}", exc) from None

    def lines(self, key: str) -> list[bytes]:
        try:
            body = self.client.get_object(Bucket=self.location.container, Key=key)["Body"].read()
        except Exception as exc:
            raise self._aws.user_error(f"read s3://{self.location.container}/{key}", exc) from None
        return bytes(body).splitlines()


class _Blobs(_Store):
    def __init__(self, location: CaptureLocation, container_client: Any = None) -> None:
        self.location = location
        if container_client is None:
            from azure.storage.blob import ContainerClient

            from ml.azure import default_connection
            from ml.cloud_waits import cloud_waits

            container_client = ContainerClient(
                str(location.account_url),
                location.container,
                credential=default_connection().credential,
                **cloud_waits().storage_kwargs(),
            )
        self.container = container_client

    def list_keys(self) -> Iterator[str]:
        try:
            for blob in self.container.list_blobs(name_starts_with=self.location.prefix or None):
                if blob.name.endswith((".jsonl", ".json")):
                    yield blob.name
        except Exception as exc:
            raise UserError(f"cannot list the capture at {self.location.uri}: {_first_line(exc)}") from None

    def lines(self, key: str) -> list[bytes]:
        try:
            return bytes(self.container.download_blob(key).readall()).splitlines()
        except Exception as exc:
            raise UserError(f"cannot read blob {key} of {self.location.uri}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _store(location: CaptureLocation, *, region: str, client: Any) -> _Store:
    if location.scheme == "file":
        return _Files(Path(location.container) / location.prefix)
    if location.scheme == "s3":
        return _S3(location, region, client)
    return _Blobs(location, client)


def capture_store(location: CaptureLocation, *, region: str = "us-east-1", client: Any = None) -> _Store:
    """The storage of a capture root, for a reader that keeps what it read (``list_keys``, ``lines(key)``).

    Why public: an A/B test's attribution (`ml.deploy.targets._capture_assignments`) looks every few
    seconds and reads each immutable object once; `read_capture` reads a whole window every call.
    """
    return _store(location, region=region, client=client)


def key_in_window(key: str, since: float, until: float) -> bool:
    """False only for keys whose ``/YYYY/MM/DD/HH/`` hour lies wholly outside [since, until]."""
    return _hour_in_window(key, since, until)


def read_capture(
    location: CaptureLocation,
    *,
    since: float,
    until: float,
    endpoint: str | None = None,
    columns: list[str] | None = None,
    region: str = "us-east-1",
    client: Any = None,
) -> list[CaptureRecord]:
    """Every captured row in [since, until] (of ``endpoint`` when given), oldest first.

    ``columns`` name positional inputs (SageMaker CSV, unnamed arrays) like the reference does;
    ``client`` is a boto3 S3 client or an azure-storage-blob ``ContainerClient`` (default: built
    from the environment the way every other `ml` command builds it).
    """
    store = _store(location, region=region, client=client)
    prefix = location.prefix if location.scheme != "file" else ""
    platform: list[CaptureRecord] = []
    azure_inputs: dict[tuple[str, str], list[tuple[str, Iterable[bytes]]]] = {}
    azure_outputs: dict[tuple[str, str], list[tuple[str, Iterable[bytes]]]] = {}
    for key in store.list_keys():
        if not _hour_in_window(key, since, until):
            continue
        collection = _AZURE_COLLECTION.search(key)
        if collection is not None:
            pair = (collection.group(1), collection.group(2))
            if endpoint is not None and pair[0] != endpoint:
                continue
            target = azure_inputs if collection.group(3) == "model_inputs" else azure_outputs
            target.setdefault(pair, []).append((key, store.lines(key)))
            continue
        platform.extend(records_of_file(key, store.lines(key), prefix=prefix, columns=columns))
    for pair, inputs in azure_inputs.items():
        platform.extend(
            azure_records(inputs, azure_outputs.get(pair, []), endpoint=pair[0], deployment=pair[1], columns=columns)
        )
    chosen = [
        record
        for record in platform
        if since <= record.timestamp <= until and (endpoint is None or record.endpoint == endpoint)
    ]
    chosen.sort(key=lambda record: record.timestamp)
    return chosen
