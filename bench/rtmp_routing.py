#!/usr/bin/env python3
"""RTMP connect routed by domain: time to the first video message through one of 1,000
streaming distributions, against the default distribution, on the same server in one run.

  bench/rtmp_routing.py [--distributions 1000] [--runs 501]

The target is no measurable difference: the routing table is an in-memory snapshot,
so a connect costs one dictionary lookup whatever the number of distributions. The
probes take turns (routed, default, routed, …) from one Python process; medians and
the ratio are printed and written to bench/out/rtmp_routing.json.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from rtmp_probe import first_video_seconds
from servers import ROOT, SLUICE, build_sluice, free_port, sluice_environment, start_sluice, stop_sluice

OUT = os.path.join(ROOT, "bench", "out")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distributions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=501)
    args = parser.parse_args()
    build_sluice()
    data = os.path.join(OUT, "routing-data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    port = free_port()
    environment = sluice_environment()
    server = start_sluice(data, rtmp_port=port, stderr=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        domain = None
        for index in range(args.distributions):
            made = subprocess.run([SLUICE, "distribution", "create", "--origin", "media", "--cname", f"v{index}.example.com", "--data", data],
                                  env=environment, check=True, capture_output=True, text=True).stdout
            domain = next(line.split(": ", 1)[1] for line in made.splitlines() if line.startswith("domain: "))
        print(f"{args.distributions} distributions made in {time.monotonic() - started:.0f} s", file=sys.stderr)
        deadline = time.time() + 30
        while "InProgress" in subprocess.run([SLUICE, "distribution", "ls", "--data", data], env=environment, capture_output=True,
                                             text=True).stdout:
            if time.time() > deadline:
                raise SystemExit("the distributions were not deployed within 30 s")
            time.sleep(0.2)
        times = {"routed": [], "default": []}
        for _ in range(args.runs):
            times["routed"].append(first_video_seconds("127.0.0.1", port, "sample.flv", tc_host=domain))
            times["default"].append(first_video_seconds("127.0.0.1", port, "sample.flv"))
    finally:
        stop_sluice(server)
    result = {name: statistics.median(values) * 1000 for name, values in times.items()}
    result["p90_routed_ms"] = statistics.quantiles(times["routed"], n=10)[-1] * 1000
    result["p90_default_ms"] = statistics.quantiles(times["default"], n=10)[-1] * 1000
    result["ratio"] = result["routed"] / result["default"]
    print(f"time to first video, median of {args.runs}: through a distribution (of {args.distributions}) {result['routed']:.2f} ms, "
          f"default {result['default']:.2f} ms, ratio {result['ratio']:.2f}; p90 {result['p90_routed_ms']:.2f} / {result['p90_default_ms']:.2f} ms")
    with open(os.path.join(OUT, "rtmp_routing.json"), "w") as out:
        json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
