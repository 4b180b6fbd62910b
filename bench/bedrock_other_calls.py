"""What the Bedrock instrumentation costs every *other* AWS call.

    python bench/bedrock_other_calls.py [--rounds N]

The instrumentation patches botocore's ``BaseClient._make_api_call``, which every operation
of every AWS client goes through; for anything but ``bedrock-runtime``'s four model
operations it must only look the operation name up and call through. Measured, medians of
interleaved rounds (process CPU time), no network (a ``before-send`` handler answers):

* an S3 ``list_buckets`` through boto3, unpatched and patched (``weave_agent.patch(bedrock=True)``):
  botocore's whole call, serializer, signer and XML parser included;
* the wrapper alone: the patched ``_make_api_call`` around a method that returns at once,
  against that method called bare, on the same S3 client (what the patch adds per call).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for _k in list(os.environ):
    if _k.startswith(("WEAVE_AGENT_", "OTEL_")):
        del os.environ[_k]

import boto3  # noqa: E402
import botocore.client  # noqa: E402
from _mock_vendors import before_send  # noqa: E402

import weave_agent  # noqa: E402

LIST_BUCKETS = (b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/'
                b'2006-03-01/"><Owner><ID>bench</ID></Owner><Buckets><Bucket><Name>bench-bucket</Name><CreationDate>'
                b'2024-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>')
clock = time.process_time


def s3_client() -> Any:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="AKIABENCHNOTAKEY0001",
                          aws_secret_access_key="bench-not-a-secret")
    client.meta.events.register_first("before-send.s3.*", before_send({
        "s3.amazonaws.com": (LIST_BUCKETS, "application/xml"), "s3.us-east-1.amazonaws.com": (LIST_BUCKETS, "application/xml")}))
    return client


def per_call(fn: Any, n: int) -> float:
    fn()
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    client = s3_client()
    assert client.list_buckets()["Buckets"][0]["Name"] == "bench-bucket"
    original = vars(botocore.client.BaseClient)["_make_api_call"]

    def instant(self: Any, operation_name: str, api_params: Any) -> Any:
        return None

    from weave_agent.instrumentations.bedrock.bedrock import _patched

    wrapped = _patched(instant).__get__(client, type(client))
    bare = instant.__get__(client, type(client))
    params: dict[str, Any] = {}
    samples: dict[str, list[float]] = {"s3 unpatched": [], "s3 patched": [], "bare method": [], "patched wrapper": []}
    for _ in range(args.rounds):
        samples["s3 unpatched"].append(per_call(client.list_buckets, 200))
        weave_agent.patch(bedrock=True)
        assert vars(botocore.client.BaseClient)["_make_api_call"] is not original
        samples["s3 patched"].append(per_call(client.list_buckets, 200))
        weave_agent.unpatch("bedrock")
        assert vars(botocore.client.BaseClient)["_make_api_call"] is original
        samples["bare method"].append(per_call(lambda: bare("ListBuckets", params), 50_000))
        samples["patched wrapper"].append(per_call(lambda: wrapped("ListBuckets", params), 50_000))
    med = {k: statistics.median(v) * 1e6 for k, v in samples.items()}
    for k, v in med.items():
        print("%-16s %9.3f µs" % (k, v))
    print("s3 list_buckets: +%.3f µs (%.2f%%) patched; the wrapper alone adds %.3f µs a call"
          % (med["s3 patched"] - med["s3 unpatched"], 100 * (med["s3 patched"] / med["s3 unpatched"] - 1),
             med["patched wrapper"] - med["bare method"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
