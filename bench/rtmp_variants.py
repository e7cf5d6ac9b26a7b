#!/usr/bin/env python3
"""RTMP variants benchmark: rtmp and rtmpe on the RTMP port, rtmpt and rtmpte on the
HTTP port, served by Sluice (release build) and, beside it in the same run, by
crtmpserver, the one public server with all four (nginx-rtmp has none but rtmp).

  bench/rtmp_variants.py [--crtmpserver PATH] [--clients 200] [--single-runs 7]

crtmpserver is not built here. Give the path of a built `crtmpserver` binary (or set
CRTMPSERVER); its applications are looked for in ../applications beside it, as its
cmake build lays them out. Built against OpenSSL 3, it needs its DH, HMAC_CTX and
EVP_MD_CTX calls adapted; the config written here turns handshake validation off.
Without it, the run measures Sluice alone.

For each server and variant, rtmpdump downloads the same 60 s 720p FLV at full speed:
  - one client: median wall time of several runs
  - N clients at once: wall time, server CPU seconds, CPU per GB sent, failures
and the probe in rtmp_probe.py times connect-to-first-video over rtmp and rtmpt.
Printed as ratios: each variant against plain RTMP on the same server (the issue's
targets), and Sluice against crtmpserver per variant. Results go to
bench/out/rtmp_variants.json.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

from rtmp_vod import CLIP, MEDIA, OUT, prepare
from servers import cpu_seconds, free_port, sluice_environment, start_sluice, wait_port

VARIANTS = ["rtmp", "rtmpe", "rtmpt", "rtmpte"]
# Each variant's allowed ratio to plain RTMP on the same server: (throughput at least,
# CPU per GB at most).
TARGETS = {"rtmpe": (0.8, 1.5), "rtmpt": (0.5, 3.0), "rtmpte": (0.5, 3.0)}


class Server:
    """A server with an RTMP port and an HTTP port (the tunnel's)."""
    rtmp_port = http_port = 0
    process = None

    def port(self, variant):
        return self.http_port if variant in ("rtmpt", "rtmpte") else self.rtmp_port

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Sluice(Server):
    name = "sluice"

    def __init__(self):
        data = os.path.join(OUT, "variants-sluice-data")
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(os.path.join(data, "buckets", "media"))
        os.link(os.path.join(MEDIA, CLIP), os.path.join(data, "buckets", "media", CLIP))
        self.rtmp_port, self.http_port = free_port(), free_port()
        # Every client comes from 127.0.0.1: the HTTP port's cap of 128 connections from
        # one address (http.max-connections-per-ip) would refuse tunnelled clients past it.
        self.process = start_sluice(data, rtmp_port=self.rtmp_port, http_port=self.http_port,
                                    stderr=open(os.path.join(OUT, "variants-sluice.log"), "w"),
                                    environment=sluice_environment(SLUICE_HTTP_MAX_CONNECTIONS_PER_IP="4096"))
        wait_port(self.http_port)
        self.pid = self.process.pid


class Crtmpserver(Server):
    name = "crtmpserver"

    def __init__(self, binary):
        self.dir = os.path.join(OUT, "crtmpserver")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        applications = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(binary))), "applications")
        self.rtmp_port, self.http_port = free_port(), free_port()
        config = f"""configuration={{
  daemon=false, pathSeparator="/",
  logAppenders={{ {{ name="console", type="coloredConsole", level=0 }} }},
  applications={{
    rootDirectory="{applications}",
    {{
      name="flvplayback", protocol="dynamiclinklibrary", default=true, validateHandshake=false, aliases={{"cfx"}},
      acceptors={{
        {{ ip="127.0.0.1", port={self.rtmp_port}, protocol="inboundRtmp" }},
        {{ ip="127.0.0.1", port={self.http_port}, protocol="inboundRtmpt" }},
      }},
      mediaStorage={{ bench={{ mediaFolder="{MEDIA}", metaFolder="{self.dir}", enableStats=false, keyframeSeek=false }} }},
    }},
  }}
}}
"""
        path = os.path.join(self.dir, "crtmpserver.lua")
        open(path, "w").write(config)
        self.log = open(os.path.join(self.dir, "crtmpserver.log"), "w")
        self.process = subprocess.Popen([binary, path], cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.rtmp_port)
        wait_port(self.http_port)
        self.pid = self.process.pid


def rtmpdump(server, variant, output="/dev/null"):
    # rtmpt mode spins and ignores SIGTERM when a server closes without an HTTP answer.
    return ["timeout", "-s", "KILL", "300", "rtmpdump", "-q", "-r", f"{variant}://127.0.0.1:{server.port(variant)}/cfx/st",
            "-y", CLIP, "-o", output]


def single_client(server, variant, runs):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        result = subprocess.run(rtmpdump(server, variant), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
        if result.returncode != 0:
            raise RuntimeError(f"{server.name} {variant}: rtmpdump exited {result.returncode}")
    return statistics.median(times)


def many_clients(server, variant, clients, size):
    cpu_before = cpu_seconds(server.pid)
    start = time.monotonic()
    processes = [subprocess.Popen(rtmpdump(server, variant), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(clients)]
    failures = sum(1 for p in processes if p.wait() != 0)
    wall = time.monotonic() - start
    cpu = cpu_seconds(server.pid) - cpu_before
    return {"wall_s": wall, "cpu_s": cpu, "cpu_s_per_gb": cpu / (clients * size / 1e9), "failed_clients": failures}


def check_bytes(server, variant, expected):
    """One download per variant compared with plain RTMP's from the same server."""
    path = os.path.join(OUT, f"variants-{server.name}-{variant}.flv")
    subprocess.run(rtmpdump(server, variant, path), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = open(path, "rb").read()
    os.remove(path)
    return data if expected is None else data == expected


def first_video(servers, runs):
    from rtmp_probe import first_video_seconds
    times = {(server.name, tunnel): [] for server in servers for tunnel in (False, True)}
    for _ in range(runs):
        for server in servers:
            for tunnel in (False, True):
                port = server.port("rtmpt" if tunnel else "rtmp")
                times[(server.name, tunnel)].append(first_video_seconds("127.0.0.1", port, CLIP, tunnel=tunnel))
    return {key: statistics.median(values) * 1000 for key, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crtmpserver", default=os.environ.get("CRTMPSERVER"), help="a built crtmpserver binary")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--single-runs", type=int, default=7)
    parser.add_argument("--first-video-runs", type=int, default=201)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    clip = prepare(args)
    size = os.path.getsize(clip)
    print(f"clip: {size / 1e6:.1f} MB", file=sys.stderr)

    servers = [Sluice()]
    if args.crtmpserver:
        servers.append(Crtmpserver(args.crtmpserver))
    else:
        print("no crtmpserver given: measuring Sluice alone", file=sys.stderr)
    results = {s.name: {v: {} for v in VARIANTS} for s in servers}
    try:
        for server in servers:
            plain = check_bytes(server, "rtmp", None)
            for variant in VARIANTS[1:]:
                if not check_bytes(server, variant, plain):
                    raise RuntimeError(f"{server.name}: {variant} download differs from rtmp")
        for variant in VARIANTS:
            for server in servers:
                print(f"[{server.name}] {variant}: one client...", file=sys.stderr)
                results[server.name][variant]["single_s"] = single_client(server, variant, args.single_runs)
        for variant in VARIANTS:
            for server in servers:
                print(f"[{server.name}] {variant}: {args.clients} clients...", file=sys.stderr)
                results[server.name][variant]["concurrent"] = many_clients(server, variant, args.clients, size)
        print("time to first video...", file=sys.stderr)
        for (name, tunnel), ms in first_video(servers, args.first_video_runs).items():
            results[name]["rtmpt" if tunnel else "rtmp"]["first_video_ms"] = ms
    finally:
        for server in servers:
            server.stop()

    print(f"\n{'server':<12} {'variant':<8} {'1 client s':>10} {'N wall s':>9} {'N cpu s':>8} {'cpu s/GB':>9} {'failed':>6} {'1st video ms':>12}")
    for name, variants in results.items():
        for variant, r in variants.items():
            c = r["concurrent"]
            first = f"{r['first_video_ms']:.3f}" if "first_video_ms" in r else ""
            print(f"{name:<12} {variant:<8} {r['single_s']:>10.3f} {c['wall_s']:>9.2f} {c['cpu_s']:>8.2f} {c['cpu_s_per_gb']:>9.3f} "
                  f"{c['failed_clients']:>6} {first:>12}")

    print("\nagainst plain RTMP on the same server (throughput: higher is better; CPU/GB: lower)")
    print(f"{'server':<12} {'variant':<8} {'1-client tput':>13} {'N-client tput':>13} {'CPU/GB':>7}  target")
    for name, variants in results.items():
        plain = variants["rtmp"]
        for variant in VARIANTS[1:]:
            r = variants[variant]
            single = plain["single_s"] / r["single_s"]
            many = plain["concurrent"]["wall_s"] / r["concurrent"]["wall_s"]
            cpu = r["concurrent"]["cpu_s_per_gb"] / plain["concurrent"]["cpu_s_per_gb"]
            throughput, cpu_limit = TARGETS[variant]
            print(f"{name:<12} {variant:<8} {single:>13.2f} {many:>13.2f} {cpu:>7.2f}  tput >= {throughput}, CPU/GB <= {cpu_limit}")
        if "first_video_ms" in variants["rtmpt"]:
            print(f"{name:<12} first video over rtmpt / rtmp: {variants['rtmpt']['first_video_ms'] / plain['first_video_ms']:.2f} (target <= 3)")

    if "crtmpserver" in results:
        s, c = results["sluice"], results["crtmpserver"]
        print("\nSluice against crtmpserver, same variant (below 1: Sluice is faster or cheaper)")
        print(f"{'variant':<8} {'1 client':>9} {'N wall':>7} {'N cpu':>7} {'1st video':>9}")
        for variant in VARIANTS:
            first = ""
            if "first_video_ms" in s[variant]:
                first = f"{s[variant]['first_video_ms'] / c[variant]['first_video_ms']:.2f}"
            print(f"{variant:<8} {s[variant]['single_s'] / c[variant]['single_s']:>9.2f} "
                  f"{s[variant]['concurrent']['wall_s'] / c[variant]['concurrent']['wall_s']:>7.2f} "
                  f"{s[variant]['concurrent']['cpu_s'] / c[variant]['concurrent']['cpu_s']:>7.2f} {first:>9}")
    os.makedirs(OUT, exist_ok=True)
    json.dump(results, open(os.path.join(OUT, "rtmp_variants.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
