#!/usr/bin/env python3
"""Hostile soak: good RTMP players at real-time pace beside hostile connections, against a
running `sluice serve`.

    bench/soak.py                     1,000 players, 100 hostile connections, 3 minutes
    bench/soak.py --clients 100 --hostile 30 --seconds 20 --build debug   (the test's size)

Each player does the handshake, connect, createStream, a 3 s buffer and play, then reads to
the end and checks that it got every audio and video message of the file in order (the
server paces it to playback speed). Hostile connections cycle through random bytes, random
chunks after a good handshake, huge chunk sizes, absurd AMF lengths, absurd seek and play
numbers, one byte per second, half-open sockets, connect floods past the connection limit,
and on the S3 and public HTTP ports malformed heads, absurd ranges, bad XML, bad
signatures and path-traversal keys.

Pass: the server stays up, every player gets every byte in order, descriptors and private
memory after the run are within 10% of before it (or 16 descriptors / 4 MB, whichever is
more; "before" follows a warm-up round of the same load, since an allocator keeps what a
load once needed), and no private object or file outside the data folder is ever served. Prints the
figures (players, hostile connections, duration, memory, CPU) and exits 1 on a failure.
"""
import argparse
import asyncio
import hashlib
import os
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import cpu_seconds, free_port, wait_port  # noqa: E402
from rtmp_probe import amf_number, amf_object, amf_string, chunk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = b"SLUICE-SOAK-SECRET-MARKER"


# MARK: The file and what a player must receive

def flv_media(path):
    """The audio and video tags of an FLV, in file order: [(type, payload digest)]."""
    data = open(path, "rb").read()
    offset = struct.unpack(">I", data[5:9])[0] + 4
    tags = []
    while offset + 11 <= len(data):
        kind = data[offset] & 0x1F
        size = int.from_bytes(data[offset + 1:offset + 4], "big")
        payload = data[offset + 11:offset + 11 + size]
        if kind in (8, 9) and not is_sequence_header(kind, payload):
            tags.append((kind, hashlib.blake2b(payload, digest_size=8).digest()))
        offset += 11 + size + 4
    return tags


def is_sequence_header(kind, payload):
    return len(payload) >= 2 and payload[1] == 0 and ((kind == 9 and payload[0] & 0x0F == 7) or (kind == 8 and payload[0] >> 4 == 10))


# MARK: A player

class ChunkReader:
    def __init__(self, reader):
        self.reader = reader
        self.chunk_size = 128
        self.streams = {}

    async def message(self):
        read = self.reader.readexactly
        while True:
            b0 = (await read(1))[0]
            fmt, csid = b0 >> 6, b0 & 0x3F
            if csid == 0:
                csid = (await read(1))[0] + 64
            elif csid == 1:
                lo, hi = await read(2)
                csid = hi * 256 + lo + 64
            st = self.streams.setdefault(csid, [0, 0, False, []])  # length, type, extended, parts
            if fmt <= 1:
                header = await read(11 if fmt == 0 else 7)
                st[2] = header[0:3] == b"\xff\xff\xff"
                st[0] = int.from_bytes(header[3:6], "big")
                st[1] = header[6]
            elif fmt == 2:
                st[2] = (await read(3)) == b"\xff\xff\xff"
            if st[2]:
                await read(4)
            have = sum(len(p) for p in st[3])
            st[3].append(await read(min(self.chunk_size, st[0] - have)))
            if have + len(st[3][-1]) >= st[0]:
                data = b"".join(st[3])
                st[3] = []
                if st[1] == 1:
                    self.chunk_size = struct.unpack(">I", data[:4])[0] & 0x7FFFFFFF
                return st[1], data


async def handshake(reader, writer):
    writer.write(b"\x03" + bytes(1536))
    s0s1 = await reader.readexactly(1537)
    await reader.readexactly(1536)
    writer.write(s0s1[1:])


def command(name, transaction, *values, csid=3, stream=0):
    return chunk(csid, 20, stream, amf_string(name) + amf_number(transaction) + b"".join(values))


class Refused(Exception):
    """The server closed the connection before it answered connect."""


async def play(port, name, buffer_ms=3000, timeout=600):
    """Plays `name` to the end; the media tags received, in order, and the statuses."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    except (ConnectionError, OSError) as error:
        raise Refused() from error
    try:
        try:
            await asyncio.wait_for(handshake(reader, writer), 30)
            writer.write(command("connect", 1, amf_object([("app", amf_string("cfx/st")),
                                                           ("tcUrl", amf_string(f"rtmp://127.0.0.1:{port}/cfx/st"))])))
            chunks = ChunkReader(reader)
            while True:  # up to connect's _result
                kind, data = await asyncio.wait_for(chunks.message(), 30)
                if kind == 20 and data.startswith(amf_string("_result")):
                    break
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise Refused() from error
        writer.write(command("createStream", 2, b"\x05"))
        writer.write(chunk(2, 4, 0, struct.pack(">HII", 3, 1, buffer_ms)))
        writer.write(command("play", 0, b"\x05", amf_string(name), amf_number(-2000), csid=8, stream=1))
        tags, statuses = [], []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kind, data = await asyncio.wait_for(chunks.message(), 60)
            if kind in (8, 9):
                if not is_sequence_header(kind, data) and len(data) > 0:
                    tags.append((kind, hashlib.blake2b(data, digest_size=8).digest()))
            elif kind == 20 and b"onStatus" in data[:16]:
                for code in (b"NetStream.Play.Stop", b"NetStream.Play.StreamNotFound", b"NetStream.Play.Failed"):
                    if code in data:
                        statuses.append(code.decode())
                if statuses:
                    return tags, statuses
            elif kind == 4 and data[:2] == b"\x00\x06":  # ping request: answer
                writer.write(chunk(2, 4, 0, b"\x00\x07" + data[2:6]))
        return tags, statuses
    finally:
        writer.close()


# MARK: Hostile connections

def random_bytes(n):
    return bytes(random.getrandbits(8) for _ in range(n))


async def rtmp_hostile(port, kind):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    try:
        if kind == "random":
            writer.write(random_bytes(random.randint(1, 5000)))
        elif kind == "random-chunks":
            await handshake(reader, writer)
            writer.write(random_bytes(random.randint(1, 20000)))
        elif kind == "huge-chunk-size":
            await handshake(reader, writer)
            writer.write(chunk(2, 1, 0, struct.pack(">I", random.choice([0, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000]))))
            writer.write(chunk(3, 20, 0, random_bytes(300)))
        elif kind == "absurd-amf":
            await handshake(reader, writer)
            writer.write(chunk(3, 20, 0, b"\x02\xff\xff" + b"connect" + b"\x0a\xff\xff\xff\xff"))
            writer.write(b"\x03\x00\x00\x00\xff\xff\xff\x14\x00\x00\x00\x00")  # a 16 MB message
        elif kind == "absurd-numbers":
            await handshake(reader, writer)
            writer.write(command("connect", 1, amf_object([("app", amf_string("cfx/st")),
                                                           ("tcUrl", amf_string(f"rtmp://127.0.0.1:{port}/cfx/st"))])))
            writer.write(command("createStream", 2, b"\x05"))
            for value in (1e300, float("nan"), float("inf"), -1e300):
                writer.write(command("play", 0, b"\x05", amf_string("clip.flv"), amf_number(value), amf_number(value), csid=8, stream=1))
                writer.write(command("seek", 0, b"\x05", amf_number(value), csid=8, stream=1))
                writer.write(command("pause", 0, b"\x05", b"\x01\x01", amf_number(value), csid=8, stream=1))
            for name in ("../outside.flv", "../../outside", "secret.flv", "secret", "/etc/passwd", "mp4:../../outside"):
                writer.write(command("play", 0, b"\x05", amf_string(name), csid=8, stream=1))
            await writer.drain()
            # Whatever comes back must not carry the private object or the outside file.
            end = time.monotonic() + 2
            while time.monotonic() < end:
                try:
                    data = await asyncio.wait_for(reader.read(65536), 0.5)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    break
                if SECRET in data:
                    raise AssertionError("a private or outside file was served over RTMP")
        elif kind == "slowloris":
            for byte in (b"\x03" + random_bytes(40)):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
        elif kind == "half-open":
            writer.write(b"\x03" + bytes(700))
            await writer.drain()
            writer.write_eof()
            await asyncio.sleep(random.uniform(1, 12))
        await writer.drain()
        await asyncio.sleep(random.uniform(0, 0.5))
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
        pass
    finally:
        writer.close()


async def flood(port, count):
    """Connections past the limit: opened at once, held a moment, closed."""
    opened = []
    for _ in range(count):
        try:
            opened.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5))
        except (OSError, asyncio.TimeoutError):
            break
    await asyncio.sleep(0.5)
    for _, writer in opened:
        writer.close()
    return len(opened)


HTTP_REQUESTS = [
    b"GET /media/clip.flv HTTP/1.1\r\nHost: x\r\nRange: bytes=-999999999999\r\n\r\n",
    b"GET /media/clip.flv HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999999999999999-\r\n\r\n",
    b"GET /media/clip.flv HTTP/1.1\r\nHost: x\r\nRange: bytes=5-1\r\n\r\n",
    b"GET /media/empty.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n",
    b"GET /media/secret.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /media/../outside.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /media/%2e%2e/outside.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /media/%2e%2e%2f%2e%2e%2foutside.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /media/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /media?delete HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n<\xcc\xcc/P",
    b"PUT /media/x HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=x/1/2/3/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n",
    b"GET /media/clip.flv HTTP/1.1\r\nHost: x\r\nAuthorization: AWS KEY:c2ln\r\nIf-Modified-Since: Wed, 25 Nov -2147483648 10:00:00 GMT\r\n\r\n",
    b"GET /media?max-keys=-1&list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64),
    b"GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


async def http_hostile(port):
    """One malformed request; True when it was answered or closed without leaking."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    try:
        request = random.choice(HTTP_REQUESTS)
        if random.random() < 0.2:
            request = random_bytes(random.randint(1, 2000))
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(1 << 20), 20)
        if SECRET in answer:
            raise AssertionError("a private or outside file was served over HTTP: " + request[:80].decode("latin-1"))
    except (ConnectionError, asyncio.TimeoutError, OSError):
        pass
    finally:
        writer.close()


# MARK: RTMP while the S3 API is loaded

ACCESS_KEY, SECRET_KEY = "SOAKKEY", "soak/secret"


async def slow_put(port, index, megabytes, stop_at):
    """A signed PUT whose body trickles in (256 KB every 50 ms) until it is whole."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    size = megabytes << 20
    request = AWSRequest(method="PUT", url=f"http://127.0.0.1:{port}/media/load-{index}.bin",
                         headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Content-Length": str(size)})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"PUT /media/load-{index}.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in request.headers.items() if name.lower() != "host")
    writer.write(head.encode() + b"\r\n")
    piece = random_bytes(1024) * 256
    sent = 0
    while sent < size and time.monotonic() < stop_at:
        writer.write(piece[:min(len(piece), size - sent)])
        sent += min(len(piece), size - sent)
        await writer.drain()
        await asyncio.sleep(0.05)
    status = (await asyncio.wait_for(reader.readline(), 60)).split(b" ")[1] if sent == size else b"cut"
    writer.close()
    return status


def first_video_under_s3_load(ports, uploads, megabytes, probes):
    """First-video times (ms) of new players, alone and while `uploads` slow PUTs run."""
    from rtmp_probe import first_video_seconds
    alone = sorted(first_video_seconds("127.0.0.1", ports[0], "clip.flv") * 1000 for _ in range(probes))

    async def loaded():
        stop_at = time.monotonic() + 120
        puts = [asyncio.create_task(slow_put(ports[2], i, megabytes, stop_at)) for i in range(uploads)]
        await asyncio.sleep(2)  # every upload under way
        times = []
        for _ in range(probes):
            times.append(await asyncio.to_thread(first_video_seconds, "127.0.0.1", ports[0], "clip.flv") * 1000)
            await asyncio.sleep(0.05)
        statuses = await asyncio.gather(*puts)
        return sorted(times), statuses

    under, statuses = asyncio.run(loaded())
    return alone, under, statuses


# MARK: The server

def process_figures(pid):
    values = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, rest = line.partition(":")
        if key in ("RssAnon", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    values["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return values


def prepare(folder, binary, seconds):
    data = os.path.join(folder, "data")
    os.makedirs(os.path.join(data, "buckets", "media"))
    clip = os.path.join(data, "buckets", "media", "clip.flv")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=44100", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "200k", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", clip], check=True)
    open(os.path.join(data, "buckets", "media", "empty.txt"), "wb").close()
    # A file beside the data folder, and a private object: neither may ever be served.
    with open(os.path.join(folder, "outside.flv"), "wb") as f:
        f.write(open(clip, "rb").read(9) + SECRET * 100)
    secret = os.path.join(folder, "secret.flv")
    with open(secret, "wb") as f:
        f.write(open(clip, "rb").read(9) + SECRET * 100)
    return data, clip, secret


async def soak(args, ports, expected, seconds):
    rtmp, http, s3 = ports
    stop_at = time.monotonic() + seconds
    results = {"plays": 0, "complete": 0, "wrong": [], "hostile": 0, "http": 0, "flooded": 0, "retries": 0}

    async def player(index):
        await asyncio.sleep(index * args.ramp / max(1, args.clients))
        while time.monotonic() < stop_at:
            for _ in range(60):
                try:
                    tags, statuses = await play(rtmp, "clip.flv")
                    break
                except Refused:
                    # Closed before connect was answered: a connection limit at work while
                    # a flood holds the slots. A player tries again, as real ones do.
                    results["retries"] += 1
                    await asyncio.sleep(random.uniform(0.5, 2))
                except Exception as error:  # noqa: BLE001 - a player that fails is reported, not raised
                    results["wrong"].append(f"player {index}: {type(error).__name__} {error}")
                    return
            else:
                results["wrong"].append(f"player {index}: refused 60 times")
                return
            results["plays"] += 1
            if tags == expected and "NetStream.Play.Stop" in statuses:
                results["complete"] += 1
            else:
                results["wrong"].append(f"player {index}: {len(tags)} of {len(expected)} tags, statuses {statuses}")
                return

    async def hostile(index):
        kinds = ["random", "random-chunks", "huge-chunk-size", "absurd-amf", "absurd-numbers", "slowloris", "half-open"]
        while time.monotonic() < stop_at:
            choice = random.random()
            if choice < 0.4:
                await rtmp_hostile(rtmp, random.choice(kinds))
                results["hostile"] += 1
            else:
                await http_hostile(random.choice([s3, s3, http]))
                results["http"] += 1

    async def floods():
        # Past the connection limits every so often, on the RTMP and S3 ports in turn.
        port = rtmp
        while time.monotonic() + args.flood_every < stop_at:
            await asyncio.sleep(args.flood_every)
            results["flooded"] += await flood(port, args.flood)
            results["hostile"] += 1
            port = s3 if port == rtmp else rtmp

    await asyncio.gather(*(player(i) for i in range(args.clients)), *(hostile(i) for i in range(args.hostile)), floods())
    return results


def main():
    # A thousand players and the server (which inherits this) need more than 1024 descriptors.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--hostile", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=180, help="how long new plays and hostile connections start")
    parser.add_argument("--warm-up", type=float, default=30, help="seconds of the same load before the 'before' figures")
    parser.add_argument("--clip-seconds", type=int, default=30)
    parser.add_argument("--ramp", type=float, default=10, help="seconds over which the players start")
    parser.add_argument("--flood", type=int, default=300, help="connections per flood")
    parser.add_argument("--flood-every", type=float, default=10, help="seconds between floods")
    parser.add_argument("--handshake-timeout", type=float, default=10, help="the server's rtmp.handshake-timeout")
    parser.add_argument("--settle", type=float, default=15, help="seconds to wait before measuring 'before' and 'after'")
    parser.add_argument("--s3-load", type=int, default=64, help="slow S3 uploads during the first-video probes (0: none)")
    parser.add_argument("--build", default="release", choices=["release", "debug"])
    parser.add_argument("--sluice", help="the sluice binary (default: .build/BUILD/sluice)")
    args = parser.parse_args()
    binary = args.sluice or os.path.join(ROOT, ".build", args.build, "sluice")
    folder = tempfile.mkdtemp(prefix="sluice-soak-")
    failures = []
    try:
        data, clip, secret = prepare(folder, binary, args.clip_seconds)
        expected = flv_media(clip)
        ports = (free_port(), free_port(), free_port())
        log = open(os.path.join(folder, "serve.log"), "w")
        limit = args.clients + args.hostile + 100
        env = dict(os.environ, SLUICE_HTTP_MAX_CONNECTIONS_PER_IP=str(limit), SLUICE_HTTP_MAX_CONNECTIONS=str(limit),
                   SLUICE_RTMP_MAX_HANDSHAKES="200", SLUICE_S3_ACCESS_KEY=ACCESS_KEY, SLUICE_S3_SECRET_KEY=SECRET_KEY,
                   SLUICE_RTMP_HANDSHAKE_TIMEOUT=str(args.handshake_timeout))
        server = subprocess.Popen([binary, "serve", "--control-port=-1", "--data", data, "--rtmp-host", "127.0.0.1", "--rtmp-port", str(ports[0]),
                                   "--http-port", str(ports[1]), "--s3-port", str(ports[2]), "--max-connections", str(limit),
                                   "--log-level", "warning"], stderr=log, env=env)
        for port in ports:
            wait_port(port)
        # A private object (the default ACL), put while the server runs.
        subprocess.run([binary, "bucket", "put", secret, "media/secret.flv", "--data", data], check=True, capture_output=True)
        if args.s3_load:
            alone, under, statuses = first_video_under_s3_load(ports, args.s3_load, 16, 40)
            p95 = under[int(len(under) * 0.95) - 1]
            print(f"first video alone:    median {alone[len(alone) // 2]:.1f} ms, max {alone[-1]:.1f} ms")
            print(f"first video, S3 load: median {under[len(under) // 2]:.1f} ms, 95th {p95:.1f} ms, max {under[-1]:.1f} ms "
                  f"({args.s3_load} uploads of 16 MB trickling in; answers {sorted(set(x.decode() for x in statuses))})")
            if p95 > 50:
                failures.append(f"first video under S3 load: 95th percentile {p95:.1f} ms (over 50 ms)")
            if any(x != b"200" for x in statuses):
                failures.append(f"slow uploads answered {statuses}")
        # Before: a warm-up round of the same load, then a pause. The allocator keeps
        # memory a load once needed; what must not happen is growth from round to round.
        warm = asyncio.run(soak(args, ports, expected, args.warm_up))
        # Let the server notice every close and its timers run out (the handshake's).
        time.sleep(args.settle)
        before = process_figures(server.pid)
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        results = asyncio.run(soak(args, ports, expected, args.seconds))
        duration = time.monotonic() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        peak = process_figures(server.pid)
        time.sleep(args.settle)
        after = process_figures(server.pid)
        results["wrong"] += warm["wrong"]
        alive = server.poll() is None
        good = asyncio.run(play(ports[0], "clip.flv", buffer_ms=36_000_000))
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

        print(f"players:              {args.clients} at once, {results['plays']} plays, {results['complete']} complete and in order")
        print(f"hostile connections:  {results['hostile']} RTMP (floods: {results['flooded']} sockets), {results['http']} HTTP")
        print(f"player retries:       {results['retries']} (refused while a flood held the connection slots)")
        print(f"duration:             {duration:.0f} s, server CPU {cpu:.1f} s ({cpu / duration * 100:.0f}% of one core)")
        print(f"private memory:       {before['RssAnon']:.1f} MB before (after a {args.warm_up:.0f} s warm-up), {after['RssAnon']:.1f} MB after, "
              f"peak {peak['VmHWM']:.1f} MB (VmHWM, with code and libraries)")
        print(f"descriptors:          {before['fds']} before, {after['fds']} after")
        if not alive:
            failures.append("the server died")
        if results["wrong"]:
            failures.append(f"{len(results['wrong'])} players failed, e.g. {results['wrong'][:3]}")
        if results["complete"] < args.clients:
            failures.append(f"only {results['complete']} complete plays for {args.clients} players")
        if good[0] != expected:
            failures.append("a play after the soak did not get the whole file")
        if after["fds"] > max(before["fds"] * 1.1, before["fds"] + 16):
            failures.append(f"descriptors grew from {before['fds']} to {after['fds']}")
        if after["RssAnon"] > max(before["RssAnon"] * 1.1, before["RssAnon"] + 4):
            failures.append(f"private memory grew from {before['RssAnon']:.1f} MB to {after['RssAnon']:.1f} MB")
        log.close()
        if "Fatal error" in open(os.path.join(folder, "serve.log")).read():
            failures.append("the server log has a Fatal error")
    except AssertionError as error:
        failures.append(str(error))
    finally:
        if not failures:
            shutil.rmtree(folder, ignore_errors=True)
    for failure in failures:
        print("FAIL: " + failure)
    if failures:
        print(f"(server log and data kept in {folder})")
    print("SOAK OK" if not failures else "SOAK FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
