#!/usr/bin/env python3
"""HTTP delivery of a basic distribution against nginx serving the same files from disk,
in one run, measured with wrk.

  bench/http_delivery.py [--seconds 10]

- a 100 MB object: throughput (target >= 0.9x nginx) and server CPU seconds per GB sent
- a 4 KB object: requests per second (target >= 0.7x nginx)
nginx runs with `worker_processes auto` and `sendfile on`; Sluice with its defaults (one
event loop per core). Results also go to bench/out/http_delivery.json.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from servers import ROOT, SLUICE, build_sluice, cpu_seconds, free_port, sluice_environment, start_sluice, stop_sluice, wait_port

OUT = os.path.join(ROOT, "bench", "out")
FILES = os.path.join(OUT, "http-files")
UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def make_files():
    os.makedirs(FILES, exist_ok=True)
    big = os.path.join(FILES, "big.bin")
    if not os.path.exists(big) or os.path.getsize(big) != 100 << 20:
        with open(big, "wb") as out:
            for _ in range(100):
                out.write(os.urandom(1 << 20))
    with open(os.path.join(FILES, "small.bin"), "wb") as out:
        out.write(os.urandom(4096))


def wrk(url, host, seconds, connections):
    text = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Host: {host}", url], check=True,
                          capture_output=True, text=True).stdout
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    value, unit = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", text).groups()
    return {"requests_per_second": requests, "bytes_per_second": float(value) * UNITS[unit], "seconds": seconds}


class Nginx:
    name = "nginx"

    def __init__(self):
        self.dir = os.path.join(OUT, "nginx-http")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        conf = f"""worker_processes auto;
daemon on;
pid nginx.pid;
error_log error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
        server {{ listen 127.0.0.1:{self.port}; root {FILES}; }} }}
"""
        open(os.path.join(self.dir, "nginx.conf"), "w").write(conf)
        subprocess.run(["nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-p", self.dir + "/"], check=True)
        wait_port(self.port)
        self.master = int(open(os.path.join(self.dir, "nginx.pid")).read())

    def cpu(self):
        children = open(f"/proc/{self.master}/task/{self.master}/children").read().split()
        return sum(cpu_seconds(int(pid)) for pid in children)

    def stop(self):
        os.kill(self.master, signal.SIGTERM)


class Sluice:
    name = "sluice"

    def __init__(self):
        self.dir = os.path.join(OUT, "sluice-http")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        environment = sluice_environment()
        self.process = start_sluice(self.dir, http_port=self.port)
        for name in ["big.bin", "small.bin"]:
            subprocess.run([SLUICE, "bucket", "put", os.path.join(FILES, name), f"media/{name}", "--acl", "public-read", "--data", self.dir],
                           check=True, capture_output=True, env=environment)
        subprocess.run([SLUICE, "distribution", "create", "--origin", "media", "--basic", "--cname", "bench.example.com", "--data", self.dir],
                       check=True, capture_output=True, env=environment)
        deadline = time.time() + 20
        while "InProgress" in subprocess.run([SLUICE, "distribution", "ls", "--data", self.dir], capture_output=True, text=True,
                                             env=environment).stdout:
            if time.time() > deadline:
                raise SystemExit("the distribution was not deployed")
            time.sleep(0.2)

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def stop(self):
        stop_sluice(self.process)


def measure(server, seconds):
    base = f"http://127.0.0.1:{server.port}"
    host = "bench.example.com"
    result = {}
    for name, path, connections in [("big", "/big.bin", 4), ("small", "/small.bin", 32)]:
        before = server.cpu()
        run = wrk(base + path, host, seconds, connections)
        run["cpu_seconds"] = server.cpu() - before
        result[name] = run
    result["big"]["cpu_seconds_per_gb"] = result["big"]["cpu_seconds"] / (result["big"]["bytes_per_second"] * seconds / (1 << 30))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps"), "--bench"], check=True)
    build_sluice()
    make_files()
    results = {}
    for kind in (Nginx, Sluice):
        server = kind()
        try:
            results[server.name] = measure(server, args.seconds)
        finally:
            server.stop()
    n, s = results["nginx"], results["sluice"]
    rows = [
        ("100 MB object, MB/s", n["big"]["bytes_per_second"] / 2**20, s["big"]["bytes_per_second"] / 2**20, ">= 0.9"),
        ("100 MB object, server CPU s per GB", n["big"]["cpu_seconds_per_gb"], s["big"]["cpu_seconds_per_gb"], ""),
        ("4 KB object, requests/s", n["small"]["requests_per_second"], s["small"]["requests_per_second"], ">= 0.7"),
    ]
    print(f"{'measure':40} {'nginx':>12} {'sluice':>12} {'sluice/nginx':>13} target")
    for label, a, b, target in rows:
        print(f"{label:40} {a:12.1f} {b:12.1f} {b / a:13.2f} {target}")
    with open(os.path.join(OUT, "http_delivery.json"), "w") as out:
        json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
