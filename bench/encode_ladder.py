#!/usr/bin/env python3
"""Encoding benchmark: `sluice encode` (release build) beside the FFmpeg CLI, the same
30 s 1080p30 source into the same 4-rung ladder, in one run.

  bench/encode_ladder.py [--runs 1]

Reports wall time, CPU (user+sys of the process and its threads), peak RSS, and per-rung
PSNR against the source scaled to the rung's size (the same reference for both), and the
Sluice/FFmpeg ratios. Results also go to bench/out/encode_ladder.json.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "encode")
SOURCE = os.path.join(ROOT, "bench", "out", "source1080.mp4")
RUNGS = [("720p", 1280, 720, 2500, 128), ("480p", 854, 480, 1200, 96), ("360p", 640, 360, 700, 96), ("240p", 426, 240, 350, 64)]


def make_source():
    if os.path.exists(SOURCE):
        return
    os.makedirs(os.path.dirname(SOURCE), exist_ok=True)
    print("making a 30 s 1080p30 source with the FFmpeg CLI...", file=sys.stderr)
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "30", "-ac", "2",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", SOURCE],
                   check=True)


def timed(command):
    """Runs a command; returns wall seconds, CPU seconds and peak RSS (MB) of that child
    alone (wait4's usage, not the running maximum over all children)."""
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[0]} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def ffmpeg_cli(folder):
    split = "".join(f"[v{i}]" for i in range(len(RUNGS)))
    filters = f"[0:v]split={len(RUNGS)}{split};" + ";".join(f"[v{i}]scale={w}:{h}[o{i}]" for i, (_, w, h, _, _) in enumerate(RUNGS))
    command = ["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-i", SOURCE, "-filter_complex", filters]
    for i, (name, _, _, video, audio) in enumerate(RUNGS):
        command += ["-map", f"[o{i}]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{video}k",
                    "-maxrate", f"{video}k", "-bufsize", f"{2 * video}k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
                    "-profile:v", "high", "-c:a", "aac", "-b:a", f"{audio}k", "-ar", "44100", "-flvflags", "add_keyframe_index",
                    os.path.join(folder, f"{name}.flv")]
    return command


def psnr(path, width, height):
    """PSNR of a rendition against the source scaled (bicubic) to its size."""
    result = subprocess.run(["ffmpeg", "-hide_banner", "-i", path, "-i", SOURCE, "-lavfi",
                             f"[1:v]scale={width}:{height}:flags=bicubic[ref];[0:v][ref]psnr", "-f", "null", "-"],
                            capture_output=True, text=True)
    match = re.search(r"average:([0-9.]+|inf)", result.stderr)
    return float(match.group(1)) if match else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps")], check=True)
    if not args.no_build:
        for product in ("sluice", "sluice-transcode"):
            subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)
    make_source()
    sluice = os.path.join(ROOT, ".build", "release", "sluice")
    results = {"ffmpeg": [], "sluice": []}
    for _ in range(args.runs):
        for name in ("ffmpeg", "sluice"):
            folder = os.path.join(OUT, name)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            print(f"[{name}] encoding...", file=sys.stderr)
            if name == "ffmpeg":
                results[name].append(timed(ffmpeg_cli(folder)))
            else:
                results[name].append(timed([sluice, "encode", SOURCE, "--preset", os.path.join(ROOT, "bench", "ladder-bench.yml"),
                                            "--out", folder]))
    best = {name: min(runs) for name, runs in results.items()}
    quality = {}
    for name in ("ffmpeg", "sluice"):
        folder = os.path.join(OUT, name) if name == "ffmpeg" else os.path.join(OUT, name, "source1080")
        quality[name] = {rung: psnr(os.path.join(folder, f"{rung}.flv"), w, h) for rung, w, h, _, _ in RUNGS}

    f, s = best["ffmpeg"], best["sluice"]
    print(f"\n{'measure':<28} {'ffmpeg CLI':>11} {'sluice':>11} {'ratio':>7}  target")
    for label, index, target in (("wall time (s)", 0, "<= 1.0 (stretch 0.9)"), ("CPU (s)", 1, ""), ("peak RSS (MB)", 2, "")):
        print(f"{label:<28} {f[index]:>11.2f} {s[index]:>11.2f} {s[index] / f[index]:>7.2f}  {target}")
    print(f"\n{'PSNR (dB)':<28} {'ffmpeg CLI':>11} {'sluice':>11} {'diff':>7}  target")
    for rung, *_ in RUNGS:
        a, b = quality["ffmpeg"][rung], quality["sluice"][rung]
        print(f"{rung:<28} {a:>11.2f} {b:>11.2f} {b - a:>+7.2f}  >= -0.1")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    json.dump({"runs": results, "psnr": quality}, open(os.path.join(os.path.dirname(OUT), "encode_ladder.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
