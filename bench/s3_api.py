#!/usr/bin/env python3
"""S3 API and job-runner benchmark: Sluice's S3-compatible API (release build) beside
moto_server, the same boto3 and AWS CLI clients against both, in one run; then the job
runner's start latency after a watched file settles.

  bench/s3_api.py [--big-mb 256] [--small 1000] [--runs 3] [--jobs 10] [--skip-jobs]

S3 phases (the servers take turns; the median of --runs is reported):
  - PUT of one --big-mb object: boto3 put_object (one request), and `aws s3 cp` (the CLI's
    multipart upload, 8 MB parts, 10 at a time)
  - GET of it: boto3 get_object read to the end, and `aws s3 cp` down
  - --small PUTs of 4 KiB objects through one boto3 client, one after another, and the
    same spread over 8 threads
For each: wall time, MB/s or requests/s, and the server's CPU seconds (utime + stime of
the process, from /proc), with the Sluice/moto ratio (below 1 means Sluice is faster).

Job phase: `sluice watch` with --stable-seconds 1; --jobs small MP3s are dropped in one at
a time (written under a dot-name, then renamed, so each appears whole). Reported: the time
from the end of the stability window to the runner's "job N:" start line, median and
worst (target: under 1 s).

Results also go to bench/out/s3_api.json.
"""
import argparse
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from servers import ROOT, SLUICE, build_sluice, cpu_seconds, free_port, sluice_environment, start_sluice, stop_sluice, wait_port

OUT = os.path.join(ROOT, "bench", "out")
ACCESS_KEY = "BENCHACCESSKEY"
SECRET_KEY = "bench/secret/key/0123456789"


class Moto:
    name = "moto"

    def __init__(self):
        self.port = free_port()
        self.log = open(os.path.join(OUT, "moto.log"), "w")
        self.process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log, stderr=self.log)
        wait_port(self.port)
        self.pid = self.process.pid
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.process.kill()
        self.process.wait()


class Sluice:
    name = "sluice"

    def __init__(self):
        self.dir = os.path.join(OUT, "s3-sluice-data")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.log = open(os.path.join(OUT, "s3-sluice.log"), "w")
        environment = sluice_environment(SLUICE_S3_ACCESS_KEY=ACCESS_KEY, SLUICE_S3_SECRET_KEY=SECRET_KEY)
        self.process = start_sluice(self.dir, s3_port=self.port, stderr=self.log, environment=environment)
        self.pid = self.process.pid
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self):
        stop_sluice(self.process)


def client(server):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16, retries={"max_attempts": 1}))


def aws_cli(server, *arguments):
    environment = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
                       AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    subprocess.run(["aws", "--endpoint-url", server.endpoint, *arguments], check=True, env=environment,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def measure(server, action):
    """Wall and server CPU seconds of one action."""
    cpu = cpu_seconds(server.pid)
    start = time.monotonic()
    action()
    return time.monotonic() - start, cpu_seconds(server.pid) - cpu


def make_big(megabytes):
    path = os.path.join(OUT, f"big-{megabytes}.bin")
    if not os.path.exists(path) or os.path.getsize(path) != megabytes << 20:
        with open(path, "wb") as out:
            for _ in range(megabytes):
                out.write(os.urandom(1 << 20))
    return path


def s3_phases(server, big, megabytes, small, run):
    s3 = client(server)
    bucket = f"bench-{run}"
    s3.create_bucket(Bucket=bucket)
    results = {}

    def put_big():
        with open(big, "rb") as body:
            s3.put_object(Bucket=bucket, Key="big.bin", Body=body)

    def get_big():
        stream = s3.get_object(Bucket=bucket, Key="big.bin")["Body"]
        total = 0
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        assert total == megabytes << 20, total

    target = os.path.join(OUT, "big.back")
    results["put_big_boto3"] = measure(server, put_big)
    results["get_big_boto3"] = measure(server, get_big)
    results["put_big_cli"] = measure(server, lambda: aws_cli(server, "s3", "cp", big, f"s3://{bucket}/cli.bin"))
    results["get_big_cli"] = measure(server, lambda: aws_cli(server, "s3", "cp", f"s3://{bucket}/cli.bin", target))
    if os.path.getsize(target) != megabytes << 20:
        raise RuntimeError(f"{server.name}: the CLI download is {os.path.getsize(target)} bytes")
    os.unlink(target)

    payload = os.urandom(4096)

    def puts_serial():
        for index in range(small):
            s3.put_object(Bucket=bucket, Key=f"small/{index:05d}", Body=payload)

    def puts_parallel():
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda index: s3.put_object(Bucket=bucket, Key=f"par/{index:05d}", Body=payload), range(small)))

    results["small_puts_serial"] = measure(server, puts_serial)
    results["small_puts_8_threads"] = measure(server, puts_parallel)
    listed = sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="small/"))
    if listed != small:
        raise RuntimeError(f"{server.name}: listed {listed} of {small} small objects")
    return results


def job_latency(jobs):
    """`sluice watch` with a 1 s stability window: seconds from the window's end to the
    runner's start line, one job at a time."""
    folder = os.path.join(OUT, "jobs-bench")
    shutil.rmtree(folder, ignore_errors=True)
    uploads, data = os.path.join(folder, "uploads"), os.path.join(folder, "data")
    os.makedirs(uploads)
    os.makedirs(data)  # only `sluice serve` creates a missing data folder
    clip = os.path.join(OUT, "tone3s.mp3")
    if not os.path.exists(clip):
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                        "-t", "3", "-c:a", "libmp3lame", "-b:a", "128k", clip], check=True)
    body = open(clip, "rb").read()
    stable = 1.0
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    process = subprocess.Popen([SLUICE, "watch", uploads, "--data", data, "--preset", "audio-only", "--stable-seconds", str(stable)],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True, env=environment)
    lines = queue.Queue()

    def read():
        for line in process.stderr:
            lines.put((time.monotonic(), line))

    threading.Thread(target=read, daemon=True).start()
    log = open(os.path.join(OUT, "jobs-bench.log"), "w")

    def wait_for(text, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            at, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            log.write(line)
            if text in line:
                return at

    latencies = []
    try:
        wait_for("job runner started")
        time.sleep(0.5)
        for index in range(1, jobs + 1):
            hidden = os.path.join(uploads, f".tone{index}.mp3")
            with open(hidden, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            appeared = time.monotonic()
            os.rename(hidden, os.path.join(uploads, f"tone{index}.mp3"))
            started = wait_for(f"job {index}: ")
            latencies.append(started - appeared - stable)
            wait_for(f"job {index}: done")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-mb", type=int, default=256)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--skip-jobs", action="store_true")
    parser.add_argument("--no-build", action="store_true", help="use the existing release build")
    arguments = parser.parse_args()

    os.makedirs(OUT, exist_ok=True)
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps")], check=True)
    if not arguments.no_build:
        build_sluice("sluice", "sluice-transcode")
    big = make_big(arguments.big_mb)

    servers = [Sluice(), Moto()]
    samples = {server.name: {} for server in servers}
    try:
        for run in range(arguments.runs):
            for server in servers:
                print(f"run {run + 1}/{arguments.runs}: {server.name}...", file=sys.stderr)
                for phase, value in s3_phases(server, big, arguments.big_mb, arguments.small, run).items():
                    samples[server.name].setdefault(phase, []).append(value)
    finally:
        for server in servers:
            server.stop()

    report = {"big_mb": arguments.big_mb, "small_puts": arguments.small, "runs": arguments.runs, "phases": {}}
    print(f"\nS3 API, median of {arguments.runs} runs ({arguments.big_mb} MB object, {arguments.small} PUTs of 4 KiB)")
    print(f"{'phase':24} {'sluice wall':>12} {'moto wall':>12} {'ratio':>7} {'sluice rate':>14} {'moto rate':>14} "
          f"{'sluice cpu':>11} {'moto cpu':>9} {'ratio':>7}")
    for phase in samples["sluice"]:
        row = {}
        for name in ("sluice", "moto"):
            walls = [wall for wall, _ in samples[name][phase]]
            cpus = [cpu for _, cpu in samples[name][phase]]
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            rate = (f"{arguments.big_mb / wall:.0f} MB/s" if "big" in phase else f"{arguments.small / wall:.0f} req/s")
            row[name] = {"wall_s": wall, "cpu_s": cpu, "rate": rate, "walls": walls, "cpus": cpus}
        row["wall_ratio"] = row["sluice"]["wall_s"] / row["moto"]["wall_s"]
        row["cpu_ratio"] = row["sluice"]["cpu_s"] / row["moto"]["cpu_s"] if row["moto"]["cpu_s"] else None
        report["phases"][phase] = row
        cpu_ratio = f"{row['cpu_ratio']:.2f}" if row["cpu_ratio"] is not None else "-"
        print(f"{phase:24} {row['sluice']['wall_s']:11.2f}s {row['moto']['wall_s']:11.2f}s {row['wall_ratio']:7.2f} "
              f"{row['sluice']['rate']:>14} {row['moto']['rate']:>14} {row['sluice']['cpu_s']:10.2f}s {row['moto']['cpu_s']:8.2f}s "
              f"{cpu_ratio:>7}")

    if not arguments.skip_jobs:
        latencies = job_latency(arguments.jobs)
        report["job_start_after_stable_s"] = latencies
        print(f"\njob start after the stability window ({len(latencies)} jobs): median {statistics.median(latencies) * 1000:.0f} ms, "
              f"worst {max(latencies) * 1000:.0f} ms (target < 1000 ms)")

    with open(os.path.join(OUT, "s3_api.json"), "w") as out:
        json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
