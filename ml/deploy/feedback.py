"""Business outcomes fed back per request, for A/B experiments judged on what users did.

Why per request id: an A/B test on a business metric (a click, a purchase, a correct label that
arrived a day later) needs each outcome attributed to the arm that served that request. The
caller sends a request id with the scoring call (header ``X-Request-Id``) and later feeds back the
outcome with the same id -- ``POST /feedback`` (`feedback_app`, served by `ml deploy feedback
serve`), ``ml deploy feedback add ID VALUE``, or a CSV of labels (``ml deploy feedback add
--labels FILE`` with columns ``request_id,value``). The arm of each id comes from the target's
per-request assignment log (`AssignmentReader`; the local proxy's access log); the join is here.

The store is an append-only JSON-lines file per endpoint (``<home>/feedback/<endpoint>.jsonl``):
no server is needed to record or read it, and a value fed back twice for one id counts once (the
latest), so a client retrying a POST cannot double-count.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Protocol

from ml.contract.errors import UserError
from ml.deploy.decide import ArmStats

REQUEST_ID_HEADER = "X-Request-Id"
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


def _value(raw: Any, where: str) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UserError(f"{where}: value must be a number (or true/false), got {raw!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: value must be finite, got {raw!r}")
    return value


def _request_id(raw: Any, where: str) -> str:
    text = str(raw or "")
    if not _ID.match(text):
        raise UserError(f"{where}: request_id must be 1-128 of A-Z a-z 0-9 _ . : -, got {raw!r}")
    return text


class FeedbackStore:
    """Outcomes by request id for one endpoint, in one JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_endpoint(cls, home: Path, endpoint: str) -> FeedbackStore:
        return cls(home / "feedback" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', endpoint)}.jsonl")

    def add(self, items: list[dict[str, Any]], *, where: str = "feedback") -> int:
        """Validate every item first (all or nothing), then append them; returns how many were stored."""
        rows = []
        for index, item in enumerate(items):
            at = f"{where}[{index}]"
            if not isinstance(item, dict):
                raise UserError(f"{at}: expected an object with request_id and value, got {item!r}")
            unknown = sorted(set(item) - {"request_id", "value"})
            if unknown:
                raise UserError(f"{at}: unknown keys {unknown}; allowed: request_id, value")
            rows.append({"request_id": _request_id(item.get("request_id"), at), "value": _value(item.get("value"), at)})
        now = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            for row in rows:
                handle.write(json.dumps({**row, "at": now}) + "\n")
        return len(rows)

    def add_labels(self, csv_path: Path) -> int:
        """Append a CSV with columns ``request_id,value`` (header required)."""
        try:
            with csv_path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or not {"request_id", "value"} <= set(reader.fieldnames):
                    raise UserError(f"{csv_path}: expected a header with request_id,value; got {reader.fieldnames}")
                items = [{"request_id": row["request_id"], "value": row["value"]} for row in reader]
        except FileNotFoundError:
            raise UserError(f"labels file {csv_path} does not exist") from None
        return self.add(items, where=str(csv_path))

    def values(self) -> dict[str, float]:
        """The latest value per request id."""
        latest: dict[str, float] = {}
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return latest
        for line in lines:
            if line.strip():
                row = json.loads(line)
                latest[str(row["request_id"])] = float(row["value"])
        return latest


class AssignmentReader(Protocol):
    """Which deployment served each request id since a time (`DeploymentTarget.read_assignments`)."""

    def read_assignments(self, since: float) -> dict[str, str]: ...


class JoinedFeedback:
    """Per-arm outcome statistics: the fed-back values joined with the arm that served each request."""

    def __init__(self, store: FeedbackStore, assignments: AssignmentReader) -> None:
        self.store = store
        self.assignments = assignments

    def arm_stats(self, arm: str, since: float) -> ArmStats | None:
        try:
            served = self.assignments.read_assignments(since)
        except (UserError, OSError):
            return None
        values = self.store.values()
        mine = [values[rid] for rid, name in served.items() if name == arm and rid in values]
        if mine and all(v in (0.0, 1.0) for v in mine):
            return ArmStats.binary(arm, int(sum(mine)), len(mine))
        return ArmStats.from_values(arm, mine)


def feedback_app(store: FeedbackStore) -> Any:
    """An ASGI app: ``POST /feedback`` with one ``{"request_id", "value"}`` object or a list of them."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def post(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        items = body if isinstance(body, list) else [body]
        try:
            stored = store.add(items)
        except UserError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"stored": stored})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/feedback", post, methods=["POST"]), Route("/health", health)])


def main(argv: list[str] | None = None) -> None:
    """``python -m ml.deploy.feedback --home DIR --endpoint NAME --port N``: the feedback server `ml platform up` runs.

    Why a module entry point: the local platform starts it as a background process beside the
    tracking server and routes the proxy's ``/feedback`` to it (`ml.platform.local`); the process
    serves the same `feedback_app` over the same store `ml deploy feedback serve` and the engine use.
    """
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Serve POST /feedback into an endpoint's A/B feedback store.")
    parser.add_argument("--home", type=Path, required=True, help="The platform home (the store is under feedback/)")
    parser.add_argument("--endpoint", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    store = FeedbackStore.for_endpoint(args.home, args.endpoint)
    uvicorn.run(feedback_app(store), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
