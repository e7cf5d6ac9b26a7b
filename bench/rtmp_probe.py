#!/usr/bin/env python3
"""A minimal RTMP player for the benchmark: measures the time from TCP connect to the
first video message. Neutral between servers: plain handshake, AMF0, nothing else."""
import socket
import struct
import sys
import time


def amf_string(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_number(n):
    return b"\x00" + struct.pack(">d", n)


def amf_object(pairs):
    out = b"\x03"
    for k, v in pairs:
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + v
    return out + b"\x00\x00\x09"


def chunk(csid, type_id, stream_id, payload, chunk_size=128):
    header = bytes([csid]) + b"\x00\x00\x00" + struct.pack(">I", len(payload))[1:] + bytes([type_id]) + struct.pack("<I", stream_id)
    out = header + payload[:chunk_size]
    rest = payload[chunk_size:]
    while rest:
        out += bytes([0xC0 | csid]) + rest[:chunk_size]
        rest = rest[chunk_size:]
    return out


class Reader:
    """Just enough of a chunk decoder to find message types."""

    def __init__(self, sock):
        self.sock = sock
        # A bytearray and a read offset: slicing the unread rest on every take would copy
        # it again and again, and charge a server that sends more per write for the
        # probe's own copying.
        self.buf = bytearray()
        self.pos = 0
        self.chunk_size = 128
        self.streams = {}

    def need(self, n):
        while len(self.buf) - self.pos < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            if self.pos:
                del self.buf[:self.pos]
                self.pos = 0
            self.buf += data

    def take(self, n):
        self.need(n)
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def message(self):
        while True:
            b0 = self.take(1)[0]
            fmt, csid = b0 >> 6, b0 & 0x3F
            if csid == 0:
                csid = self.take(1)[0] + 64
            elif csid == 1:
                lo, hi = self.take(2)
                csid = hi * 256 + lo + 64
            st = self.streams.setdefault(csid, {"len": 0, "type": 0, "ts": 0, "ext": False, "data": b""})
            if fmt <= 2:
                ts = int.from_bytes(self.take(3), "big")
                st["ext"] = ts == 0xFFFFFF
            if fmt <= 1:
                st["len"] = int.from_bytes(self.take(3), "big")
                st["type"] = self.take(1)[0]
            if fmt == 0:
                self.take(4)
            if st["ext"]:
                self.take(4)
            n = min(self.chunk_size, st["len"] - len(st["data"]))
            st["data"] += self.take(n)
            if len(st["data"]) >= st["len"]:
                data, st["data"] = st["data"], b""
                if st["type"] == 1:
                    self.chunk_size = struct.unpack(">I", data[:4])[0] & 0x7FFFFFFF
                return st["type"], data


class Tunnel:
    """RTMPT as a socket, pipelined as librtmp does it: each send is a POST /send written
    at once, answers are read in order when bytes are wanted (after their polling byte),
    and an idle goes out only when no answer is awaited. One keep-alive connection."""

    def __init__(self, host, port):
        self.host = f"{host}:{port}"
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.awaited = 0
        self.sequence = 0
        self.pending = bytearray()
        self.post("/open/1", b"\x00")
        self.session = self.answer().decode().strip()

    def post(self, path, body):
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/x-fcs\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        self.sock.sendall(head.encode() + body)
        self.awaited += 1

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def answer(self):
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self.fill()
        head = bytes(self.buf[:end]).decode("latin-1")
        if not head.startswith("HTTP/1.1 200"):
            raise EOFError(head.split("\r\n")[0])
        length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length:"))
        while len(self.buf) < end + 4 + length:
            self.fill()
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        self.awaited -= 1
        return body

    def command(self, verb, body):
        self.sequence += 1
        self.post(f"/{verb}/{self.session}/{self.sequence}", body)

    def sendall(self, data):
        self.command("send", data)

    def recv(self, n):
        while not self.pending:
            if not self.awaited:
                self.command("idle", b"\x00")
            self.pending += self.answer()[1:]
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out

    def close(self):
        self.sock.close()


def first_video_seconds(host, port, name, tc_host=None, tunnel=False):
    """Connect to first video message; `tunnel` speaks RTMPT to an HTTP port."""
    start = time.monotonic()
    if tunnel:
        sock = Tunnel(host, port)
    else:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"\x03" + bytes(1536))
    reader = Reader(sock)
    s0s1 = reader.take(1537)
    reader.take(1536)
    sock.sendall(s0s1[1:])
    # What librtmp sends for rtmp://HOST:PORT/cfx/st -y NAME: app "cfx" (both servers take it).
    # tc_host: the name the player asked for (a distribution's domain), as with
    # rtmpdump -t rtmp://DOMAIN/cfx/st while connecting to HOST.
    tc_url = f"{'rtmpt' if tunnel else 'rtmp'}://{tc_host or host}:{port}/cfx"
    connect = amf_string("connect") + amf_number(1) + amf_object([
        ("app", amf_string("cfx")), ("tcUrl", amf_string(tc_url)), ("flashVer", amf_string("LNX 10,0,32,18")),
        ("capabilities", amf_number(15)), ("audioCodecs", amf_number(3191)), ("videoCodecs", amf_number(252)),
        ("videoFunction", amf_number(1)), ("objectEncoding", amf_number(0))])
    sock.sendall(chunk(3, 20, 0, connect))
    sock.sendall(chunk(3, 20, 0, amf_string("createStream") + amf_number(2) + b"\x05"))
    sock.sendall(chunk(2, 4, 0, struct.pack(">HII", 3, 1, 3000)))
    sock.sendall(chunk(8, 20, 1, amf_string("play") + amf_number(0) + b"\x05" + amf_string(name) + amf_number(-2000)))
    while True:
        type_id, _ = reader.message()
        if type_id == 9:
            elapsed = time.monotonic() - start
            sock.close()
            return elapsed


if __name__ == "__main__":
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(f"{first_video_seconds(host, port, name):.6f}")
