#!/usr/bin/env python3
"""Control API latency: p50 and p99 of GetStreamingDistribution and of
ListStreamingDistributions (MaxItems 100) with 1,000 streaming distributions defined,
signed with botocore's SigV4 signer over one kept-alive connection.

  bench/control_api.py [--distributions 1000] [--requests 1000]

Results go to bench/out/control_api.json.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from servers import ROOT, build_sluice, free_port, start_sluice, stop_sluice

OUT = os.path.join(ROOT, "bench", "out")
NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distributions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    build_sluice()
    data = os.path.join(OUT, "control-data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    port = free_port()
    log = open(os.path.join(OUT, "control.log"), "w")
    server = start_sluice(data, control_port=port, log_level="info", stderr=log)
    try:
        text = open(os.path.join(OUT, "control.log")).read()
        key = re.search(r"access key: (\S+)", text).group(1)
        secret = re.search(r"secret key: (\S+)", text).group(1)
        signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "cloudfront", "us-east-1")
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def call(method, path, body=b""):
            url = f"http://127.0.0.1:{port}{path}"
            request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
            signer.add_auth(request)
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=dict(request.prepare().headers))
            response = connection.getresponse()
            payload = response.read()
            return time.perf_counter() - started, response.status, payload

        ids = []
        for index in range(args.distributions):
            config = (f'<StreamingDistributionConfig xmlns="{NS}"><CallerReference>bench-{index}</CallerReference>'
                      '<S3Origin><DomainName>media.s3.amazonaws.com</DomainName><OriginAccessIdentity></OriginAccessIdentity></S3Origin>'
                      '<Comment>bench</Comment><TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>'
                      '<Enabled>true</Enabled></StreamingDistributionConfig>').encode()
            _, status, payload = call("POST", "/2020-05-31/streaming-distribution", config)
            assert status == 201, payload
            ids.append(re.search(rb"<Id>([A-Z0-9]+)</Id>", payload).group(1).decode())
        times = {"get": [], "list": []}
        for index in range(args.requests):
            seconds, status, _ = call("GET", f"/2020-05-31/streaming-distribution/{ids[index % len(ids)]}")
            assert status == 200
            times["get"].append(seconds)
            seconds, status, _ = call("GET", "/2020-05-31/streaming-distribution?MaxItems=100")
            assert status == 200
            times["list"].append(seconds)
    finally:
        stop_sluice(server)
    result = {}
    for name, values in times.items():
        cuts = statistics.quantiles(values, n=100)
        result[name] = {"p50_ms": statistics.median(values) * 1000, "p99_ms": cuts[98] * 1000}
    print(f"with {args.distributions} distributions, {args.requests} requests each (time from request to response, signing not counted): "
          f"get p50 {result['get']['p50_ms']:.2f} ms p99 {result['get']['p99_ms']:.2f} ms; "
          f"list (100 items) p50 {result['list']['p50_ms']:.2f} ms p99 {result['list']['p99_ms']:.2f} ms")
    with open(os.path.join(OUT, "control_api.json"), "w") as out:
        json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
