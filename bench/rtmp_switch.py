#!/usr/bin/env python3
"""Dynamic streaming: what play2 switching costs the server, beside nginx-rtmp.

    bench/rtmp_switch.py                 about 4 minutes after a release build
    bench/rtmp_switch.py --clients 50 --seconds 20   a quick look

Makes a 60 s 4-rung ladder (720p 2500k, 480p 1200k, 360p 700k, 240p 350k, keyframes every
2 s) with the FFmpeg CLI and measures, with the servers taking turns on one machine:

- switch latency: `sluice probe --switch-every 5` over the ladder, standard and fast
  (`--fast-switch`, an offset a second past what has arrived); media time from play2 (or
  from the offset) to the new rendition's first frame, and wall time from play2 to
  TransitionComplete;
- N real-time players (3 s buffer) spread over the rungs, playing for S seconds, on
  Sluice without switching, on Sluice each switching every 5 s to the next rung, and on
  nginx-rtmp without switching (it cannot switch: play2 restarts the stream);
  server CPU per client-second and peak private memory (RssAnon) per client.

Targets: switching CPU at most 1.1x Sluice's non-switching figure and at most 0.7x
nginx-rtmp's plain playback. Results: a table, and bench/out/rtmp_switch.json.
"""
import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from rtmp_vod import OUT, ROOT, Nginx, Sluice, run  # noqa: E402
from servers import MemorySampler, cpu_seconds  # noqa: E402
from soak import ChunkReader, amf_number, amf_object, amf_string, chunk, command, handshake  # noqa: E402

MEDIA = os.path.join(OUT, "media")
RUNGS = [("ladder-720p.flv", "1280x720", "2500k"), ("ladder-480p.flv", "854x480", "1200k"),
         ("ladder-360p.flv", "640x360", "700k"), ("ladder-240p.flv", "426x240", "350k")]


def make_ladder():
    os.makedirs(MEDIA, exist_ok=True)
    for name, size, rate in RUNGS:
        path = os.path.join(MEDIA, name)
        if os.path.exists(path):
            continue
        print(f"making {name} with the FFmpeg CLI...", file=sys.stderr)
        run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error",
             "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
             "-t", "60", "-vf", f"scale={size}", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0",
             "-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-flvflags", "add_keyframe_index", path])


def play2(name, old):
    options = amf_object([("streamName", amf_string(name)), ("oldStreamName", amf_string(old)),
                          ("transition", amf_string("switch")), ("offset", amf_number(-1))])
    return command("play2", 0, b"\x05", options, csid=8, stream=1)


async def player(port, index, seconds, switch_every, results):
    """Plays rung index % 4 in real time for `seconds`; every `switch_every` seconds asks
    for the next rung with play2."""
    rung = index % len(RUNGS)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await handshake(reader, writer)
        writer.write(command("connect", 1, amf_object([("app", amf_string("cfx")),
                                                       ("tcUrl", amf_string(f"rtmp://127.0.0.1:{port}/cfx"))])))
        writer.write(command("createStream", 2, b"\x05"))
        writer.write(chunk(2, 4, 0, struct.pack(">HII", 3, 1, 3000)))
        writer.write(command("play", 0, b"\x05", amf_string(RUNGS[rung][0]), amf_number(-2000), csid=8, stream=1))
        chunks = ChunkReader(reader)
        start = time.monotonic()
        next_switch = start + switch_every if switch_every else None
        while time.monotonic() - start < seconds:
            try:
                kind, data = await asyncio.wait_for(chunks.message(), 1)
            except asyncio.TimeoutError:
                kind, data = None, b""
            if kind in (8, 9):
                results["bytes"] += len(data)
            elif kind == 18 and b"TransitionComplete" in data:
                results["transitions"] += 1
            elif kind == 4 and data[:2] == b"\x00\x06":
                writer.write(chunk(2, 4, 0, b"\x00\x07" + data[2:6]))
            if next_switch and time.monotonic() >= next_switch:
                old, rung = RUNGS[rung][0], (rung + 1) % len(RUNGS)
                writer.write(play2(RUNGS[rung][0], old))
                results["switches"] += 1
                next_switch += switch_every
    except Exception as error:  # noqa: BLE001 - a failed player is counted, not raised
        results["failed"].append(f"{type(error).__name__}: {error}")
    finally:
        writer.close()


def load(server, clients, seconds, switch_every):
    results = {"bytes": 0, "switches": 0, "transitions": 0, "failed": []}

    async def everyone():
        await asyncio.gather(*(player(server.port, i, seconds, switch_every, results) for i in range(clients)))

    cpu_before = cpu_seconds(server.pid)
    with MemorySampler(server.pid) as memory:
        asyncio.run(everyone())
    cpu = cpu_seconds(server.pid) - cpu_before
    return {"cpu_s": cpu, "cpu_ms_per_client_second": cpu * 1000 / (clients * seconds), "peak_anon_mb": memory.anon_mb,
            "anon_kb_per_client": memory.anon_mb * 1024 / clients, "mbytes": results["bytes"] / 1e6,
            "switches": results["switches"], "transitions": results["transitions"], "failed": len(results["failed"])}


def switch_latency(server, seconds, fast=False):
    """One probe walking the ladder every 5 s: its switches' media and wall figures. The
    media wait is from what had arrived when play2 went out (standard switch) or from the
    offset asked for (fast switch)."""
    manifest = os.path.join(OUT, "ladder.json")
    with open(manifest, "w") as file:
        json.dump({"rungs": [{"stream": name, "videoBitrate": int(rate[:-1]), "audioBitrate": 96} for name, _, rate in RUNGS]}, file)
    probe = subprocess.run([os.path.join(ROOT, ".build", "release", "sluice"), "probe", "--json",
                            f"rtmp://127.0.0.1:{server.port}/cfx/st/{RUNGS[0][0]}", "--manifest", manifest,
                            "--switch-every", "5", "--duration", str(seconds), "--buffer", "3"] + (["--fast-switch"] if fast else []),
                           capture_output=True, text=True, timeout=seconds + 60)
    report = json.loads(probe.stdout)
    done = [s for s in report["switches"] if s.get("wallSeconds") is not None]
    return {"switches": len(done), "media_wait_ms_median": statistics.median(s["mediaWait"] for s in done) if done else None,
            "media_wait_ms_max": max((s["mediaWait"] for s in done), default=None),
            "wall_to_complete_ms_median": statistics.median(s["wallSeconds"] * 1000 for s in done) if done else None,
            "largest_video_gap_ms": report["largestVideoGap"], "timeline_errors": report["timelineErrors"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps"), "--bench"], check=True, stdout=subprocess.DEVNULL)
    if not args.no_build:
        run(["swift", "build", "-c", "release", "--product", "sluice"], cwd=ROOT, stdout=subprocess.DEVNULL)
    make_ladder()
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))

    import rtmp_vod
    figures = {}
    # Sluice serves the whole ladder: every rung in its bucket before it starts (files
    # dropped into the data folder are taken in at start).
    sluice_dir = os.path.join(OUT, "sluice-data")
    original_link = os.link

    def link_ladder(source, target):
        for name, _, _ in RUNGS:
            original_link(os.path.join(MEDIA, name), os.path.join(os.path.dirname(target), name))

    rtmp_vod.CLIP = RUNGS[0][0]
    os.link = link_ladder
    try:
        sluice = Sluice()
    finally:
        os.link = original_link
    assert os.path.exists(os.path.join(sluice_dir, "buckets", "media", RUNGS[-1][0]))
    try:
        figures["latency"] = switch_latency(sluice, 30)
        figures["latency_fast"] = switch_latency(sluice, 30, fast=True)
        figures["sluice_plain"] = load(sluice, args.clients, args.seconds, None)
        figures["sluice_switching"] = load(sluice, args.clients, args.seconds, 5)
    finally:
        sluice.stop()
    nginx = Nginx()
    try:
        figures["nginx_plain"] = load(nginx, args.clients, args.seconds, None)
    finally:
        nginx.stop()

    plain, switching, anchor = figures["sluice_plain"], figures["sluice_switching"], figures["nginx_plain"]
    figures["ratios"] = {
        "switching_vs_plain_cpu": switching["cpu_ms_per_client_second"] / plain["cpu_ms_per_client_second"],
        "switching_vs_nginx_cpu": switching["cpu_ms_per_client_second"] / anchor["cpu_ms_per_client_second"],
        "plain_vs_nginx_cpu": plain["cpu_ms_per_client_second"] / anchor["cpu_ms_per_client_second"],
    }
    print(f"\n{args.clients} real-time players for {args.seconds} s, a 4-rung 60 s ladder")
    print(f"{'':28}{'CPU ms/client-s':>16}{'anon KB/client':>16}{'MB sent':>10}{'switches':>10}{'complete':>10}{'failed':>8}")
    for key in ("sluice_plain", "sluice_switching", "nginx_plain"):
        f = figures[key]
        print(f"{key:28}{f['cpu_ms_per_client_second']:16.3f}{f['anon_kb_per_client']:16.1f}{f['mbytes']:10.1f}"
              f"{f['switches']:10}{f['transitions']:10}{f['failed']:8}")
    for key, value in figures["ratios"].items():
        print(f"{key:28}{value:8.2f}x")
    print("standard switch:", json.dumps(figures["latency"]))
    print("fast switch:    ", json.dumps(figures["latency_fast"]))
    os.makedirs(OUT, exist_ok=True)
    json.dump(figures, open(os.path.join(OUT, "rtmp_switch.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
