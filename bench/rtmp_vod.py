#!/usr/bin/env python3
"""RTMP video-on-demand benchmark: Sluice (release build) beside nginx with Debian's
libnginx-mod-rtmp, serving the same 60 s 720p FLV in one run.

  bench/rtmp_vod.py [--clients 200] [--realtime-seconds 60] [--skip-realtime]

Prints, for each server and as Sluice/nginx ratios:
  - single-client full-speed download time (median of several runs)
  - 200 concurrent full-speed clients: wall time, server CPU seconds, server peak RSS
  - 200 real-time clients (rtmpdump -R -b 3000, paced by the server): server CPU per
    client-second
  - time to first video message (median)
Server CPU is read from /proc/PID/stat (utime + stime, all threads); peak RSS from VmHWM.
Results also go to bench/out/rtmp_vod.json.
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

from servers import MemorySampler, build_sluice, cpu_seconds, free_port, peak_rss_mb, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
MEDIA = os.path.join(OUT, "media")
CLIP = "clip720.flv"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def make_clip():
    os.makedirs(MEDIA, exist_ok=True)
    path = os.path.join(MEDIA, CLIP)
    if not os.path.exists(path):
        print("making a 60 s 720p30 FLV (about 12 MB) with the FFmpeg CLI...", file=sys.stderr)
        run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error",
             "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
             "-t", "60", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "3000k",
             "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-flvflags", "add_keyframe_index", path])
    return path


def prepare(args):
    """The bench's tools, a release build unless --no-build, and the clip."""
    run([os.path.join(ROOT, "scripts", "install-deps"), "--bench"])
    if not args.no_build:
        build_sluice()
    return make_clip()


class Nginx:
    name = "nginx-rtmp"

    def __init__(self):
        self.dir = os.path.join(OUT, "nginx")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        conf = f"""load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon on;
pid nginx.pid;
error_log error.log;
events {{ worker_connections 4096; }}
rtmp {{ server {{ listen 127.0.0.1:{self.port}; application cfx {{ play {MEDIA}; }} }} }}
"""
        open(os.path.join(self.dir, "nginx.conf"), "w").write(conf)
        run(["nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-p", self.dir + "/"])
        wait_port(self.port)
        master = int(open(os.path.join(self.dir, "nginx.pid")).read())
        deadline = time.time() + 10
        while not (children := open(f"/proc/{master}/task/{master}/children").read().split()) and time.time() < deadline:
            time.sleep(0.05)  # the master forks its worker just after it listens
        self.pid = int(children[0])  # the one worker does the work

    def stop(self):
        master = int(open(os.path.join(self.dir, "nginx.pid")).read())
        os.kill(master, signal.SIGTERM)


class Sluice:
    name = "sluice"

    def __init__(self):
        self.dir = os.path.join(OUT, "sluice-data")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "buckets", "media"))
        os.link(os.path.join(MEDIA, CLIP), os.path.join(self.dir, "buckets", "media", CLIP))
        self.port = free_port()
        self.log = open(os.path.join(OUT, "sluice.log"), "w")
        self.process = subprocess.Popen(
            [os.path.join(ROOT, ".build", "release", "sluice"), "serve", "--control-port=-1", "--data", self.dir, "--rtmp-host", "127.0.0.1",
             "--rtmp-port", str(self.port), "--http-port=-1", "--log-level", "warning"],
            stderr=self.log)
        wait_port(self.port)
        self.pid = self.process.pid

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def rtmpdump(server, extra=()):
    return ["timeout", "-s", "KILL", "300", "rtmpdump", "-q", "-r", f"rtmp://127.0.0.1:{server.port}/cfx/st",
            "-y", CLIP, "-o", "/dev/null", *extra]


def single_client(server, runs):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        run(rtmpdump(server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
    return statistics.median(times)


def many_clients(server, clients, extra=()):
    cpu_before = cpu_seconds(server.pid)
    start = time.monotonic()
    with MemorySampler(server.pid) as memory:
        processes = [subprocess.Popen(rtmpdump(server, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(clients)]
        failures = sum(1 for p in processes if p.wait() != 0)
    wall = time.monotonic() - start
    return {"wall_s": wall, "cpu_s": cpu_seconds(server.pid) - cpu_before, "peak_rss_mb": peak_rss_mb(server.pid),
            "peak_anon_mb": memory.anon_mb, "peak_file_mb": memory.file_mb, "failed_clients": failures}


def first_video(servers, runs):
    """Median connect-to-first-video time per server, the servers taking turns so that
    both see the same machine. The probe runs in this process: a new interpreter per
    sample would add more noise than the servers differ by."""
    from rtmp_probe import first_video_seconds
    times = {server.name: [] for server in servers}
    for _ in range(runs):
        for server in servers:
            times[server.name].append(first_video_seconds("127.0.0.1", server.port, CLIP))
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--single-runs", type=int, default=9)
    parser.add_argument("--skip-realtime", action="store_true")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    clip = prepare(args)
    print(f"clip: {os.path.getsize(clip) / 1e6:.1f} MB", file=sys.stderr)

    servers = [Nginx(), Sluice()]
    results = {s.name: {} for s in servers}
    try:
        for server in servers:  # warm the page cache and both servers' indexes
            single_client(server, 1)
        for server in servers:
            print(f"[{server.name}] single client...", file=sys.stderr)
            results[server.name]["single_client_s"] = single_client(server, args.single_runs)
        print("time to first video...", file=sys.stderr)
        for name, seconds in first_video(servers, 501).items():
            results[name]["first_video_ms"] = seconds * 1000
        for server in servers:
            print(f"[{server.name}] {args.clients} full-speed clients...", file=sys.stderr)
            results[server.name]["concurrent"] = many_clients(server, args.clients)
        if not args.skip_realtime:
            for server in servers:
                print(f"[{server.name}] {args.clients} real-time clients (about a minute)...", file=sys.stderr)
                realtime = many_clients(server, args.clients, ("-R", "-b", "3000"))
                realtime["cpu_ms_per_client_second"] = realtime["cpu_s"] * 1000 / (args.clients * 60)
                results[server.name]["realtime"] = realtime
    finally:
        for server in servers:
            server.stop()

    n, s = results["nginx-rtmp"], results["sluice"]
    rows = [
        ("single client, full speed (s)", n["single_client_s"], s["single_client_s"], "<= 1.0"),
        ("time to first video (ms)", n["first_video_ms"], s["first_video_ms"], ""),
        (f"{args.clients} full-speed clients, wall (s)", n["concurrent"]["wall_s"], s["concurrent"]["wall_s"], ""),
        (f"{args.clients} full-speed clients, server CPU (s)", n["concurrent"]["cpu_s"], s["concurrent"]["cpu_s"], "<= 1.0"),
        (f"{args.clients} full-speed clients, peak RSS (MB)", n["concurrent"]["peak_rss_mb"], s["concurrent"]["peak_rss_mb"], ""),
        ("  of it private (RssAnon)", n["concurrent"]["peak_anon_mb"], s["concurrent"]["peak_anon_mb"], ""),
        ("  of it file-backed, shared (RssFile)", n["concurrent"]["peak_file_mb"], s["concurrent"]["peak_file_mb"], ""),
    ]
    if "realtime" in s:
        rows += [
            (f"{args.clients} real-time clients, wall (s)", n["realtime"]["wall_s"], s["realtime"]["wall_s"], ""),
            ("real-time, server CPU per client-second (ms)", n["realtime"]["cpu_ms_per_client_second"],
             s["realtime"]["cpu_ms_per_client_second"], "<= 0.7"),
            ("real-time, peak RSS (MB)", n["realtime"]["peak_rss_mb"], s["realtime"]["peak_rss_mb"], ""),
            ("  of it private (RssAnon)", n["realtime"]["peak_anon_mb"], s["realtime"]["peak_anon_mb"], ""),
            ("  of it file-backed, shared (RssFile)", n["realtime"]["peak_file_mb"], s["realtime"]["peak_file_mb"], ""),
        ]
    print(f"\n{'measure':<48} {'nginx-rtmp':>11} {'sluice':>11} {'ratio':>7}  target")
    for label, a, b, target in rows:
        ratio = b / a if a else float("nan")
        print(f"{label:<48} {a:>11.3f} {b:>11.3f} {ratio:>7.2f}  {target}")
    failed = {name: (r["concurrent"]["failed_clients"], r.get("realtime", {}).get("failed_clients")) for name, r in results.items()}
    print(f"\nfailed clients (full speed, real time): {failed}")
    os.makedirs(OUT, exist_ok=True)
    json.dump(results, open(os.path.join(OUT, "rtmp_vod.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
