"""Benchmark A/B feedback attribution from capture records (the Kubernetes and Azure targets' `read_assignments`).

Run: ``uv run python bench/ab_attribution.py [--requests 20000] [--per-flush 50]`` (moto on 127.0.0.1, ~1 min).

What it measures: pods of two colours write capture records with the real `CaptureWriter` to S3
(moto server), one object per flush of ``--per-flush`` requests, as ``serving.server: platform`` pods
do about once a second. Then `CaptureAssignments.read` -- what each look of an A/B test with
``outcome: feedback`` calls -- is timed: the first look (every object since the start), then, after
``--more`` further requests, the next look, which reads only the new objects (each immutable object
is read once); and the request ids attributed, which must be all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUCKET = "bench-capture"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--per-flush", type=int, default=50)
    parser.add_argument("--more", type=int, default=1000)
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    from ml.deploy.targets._capture_assignments import CaptureAssignments
    from ml.platform.capture import CaptureWriter, Pending

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    fake_aws = (
        ("AWS_ENDPOINT_URL", f"http://{host}:{port}"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
    )  # fmt: skip  -- moto accepts any credentials
    for name, value in fake_aws:
        os.environ[name] = value
    try:
        boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        uri = f"s3://{BUCKET}/capture/"
        since = time.time() - 1
        writers = {
            colour: CaptureWriter(uri, sampling_percent=100, endpoint="churn", deployment=colour, flush_seconds=3600)
            for colour in ("blue", "green")
        }
        body = b'{"inputs": [[0.1, 0.2, 0.3, 0.4]]}'

        def serve(first: int, count: int) -> None:
            for index in range(first, first + count):
                writer = writers["blue" if index % 2 else "green"]
                writer.add(Pending(f"r{index}", time.time(), 200, 4.0, body, "application/json", b"[0.7]"))
                if (index + 1) % (2 * args.per_flush) == 0:
                    for each in writers.values():
                        each.flush()
            for each in writers.values():
                each.flush()

        started = time.perf_counter()
        serve(0, args.requests)
        write_s = time.perf_counter() - started
        reader = CaptureAssignments(uri, endpoint="churn", deployments=("blue", "green"), region="eu-west-1")
        started = time.perf_counter()
        first = reader.read(since)
        first_s, first_reads = time.perf_counter() - started, reader.reads
        serve(args.requests, args.more)
        started = time.perf_counter()
        second = reader.read(since)
        second_s, second_reads = time.perf_counter() - started, reader.reads - first_reads
        for each in writers.values():
            each.close()
    finally:
        server.stop()
    print(
        json.dumps(
            {
                "requests": args.requests,
                "write_seconds": round(write_s, 2),
                "first_look": {"objects_read": first_reads, "seconds": round(first_s, 2), "attributed": len(first)},
                "after_more_requests": args.more,
                "next_look": {"objects_read": second_reads, "seconds": round(second_s, 2), "attributed": len(second)},
                "all_attributed": len(first) == args.requests and len(second) == args.requests + args.more,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
