"""Raw-socket checks of an HTTP listener's limits, for SluiceHTTPTests.

usage: http_limits.py PORT CHECK...   prints "CHECK RESULT" per check, where RESULT is
the status code of the answer, "closed" (closed without a word) or "open".
"""
import os
import socket
import sys
import time

PORT = int(sys.argv[1])


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    return s


def head_of(s, wait=5.0):
    """The first response head on s (up to its blank line); b"" if it closed first."""
    s.settimeout(wait)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n\r\n")[0]


def answer(s, wait=5.0):
    """The status code of the first response on s, or 'closed' / 'open'."""
    try:
        head = head_of(s, wait)
    except socket.timeout:
        return "open"
    except ConnectionResetError:
        return "closed"
    return head.split(b" ")[1].decode() if head else "closed"


def stalled(raw, wait=8.0):
    """Sends part of a request, then nothing: what the server answers (or does) meanwhile."""
    s = connect()
    s.sendall(raw)
    result = answer(s, wait)
    s.close()
    return result


def send(raw, wait=5.0):
    s = connect()
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    result = answer(s, wait)
    s.close()
    return result


def check(name):
    if name == "ok":
        return send(b"GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n\r\n")
    if name == "long-uri":
        return send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    if name == "big-headers":
        return send(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 1000) for i in range(20)) + b"\r\n")
    if name == "huge-header":
        return send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 100_000 + b"\r\n\r\n")
    if name == "garbage":
        return send(b"\x16\x03\x01\x02\x00 hello\r\n\r\n")
    if name == "bad-request-line":
        return send(b"GET\r\n\r\n")
    if name == "slow-head":
        # Half a head, then silence: 408 once the head deadline passes.
        return stalled(b"GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n")
    if name == "slowloris":
        # One byte of the head every 0.4 s never completes it in time.
        s = connect()
        started = time.time()
        try:
            for byte in b"GET /crossdomain.xml HTTP/1.1\r\nX-Slow: " + b"a" * 100:
                s.sendall(bytes([byte]))
                time.sleep(0.4)
                if time.time() - started > 8:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        result = answer(s, 2)
        s.close()
        return result
    if name == "slow-body":
        # Headers to sign the request with come from the test (SLOW_BODY_HEADERS, one per line).
        extra = os.environ.get("SLOW_BODY_HEADERS", "").replace("\n", "\r\n").encode()
        return stalled(b"PUT /media/slow.bin HTTP/1.1\r\n" + extra + b"\r\nContent-Length: 100\r\n\r\nabc")
    if name == "idle-keep-alive":
        # A finished request, then nothing: closed quietly after the keep-alive time.
        s = connect()
        s.sendall(b"GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        data = b""
        while b"</cross-domain-policy>" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        result = answer(s, 8)
        s.close()
        return result
    if name == "expect-early-answer":
        # An answer given before a 100-continue body was asked for: the body never comes,
        # so the connection must close, and the answer must say so.
        s = connect()
        s.sendall(b"PUT /media/early.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        head = head_of(s)
        s.close()
        return head.split(b" ")[1].decode() + (" close" if b"\r\nconnection: close" in head.lower() else " keep-alive")
    if name == "slow-tunnel-body":
        # An RTMPT poll whose body stops short: the body deadline holds there too.
        return stalled(b"POST /send/x/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    if name == "big-tunnel-body":
        return send(b"POST /send/x/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + bytes(2_000_000))
    if name == "pipelined":
        # Requests answered three ways (the async path, on the event loop, an RTMPT poll
        # with a chunked body that takes the async path), sent at once: the answers come
        # back in request order. Prints each answer's status and what it was.
        s = connect()
        policy = b"GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n\r\n"
        ident = b"POST /fcs/ident2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\x00"
        chunked = b"POST /fcs/ident2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\x00\r\n0\r\n\r\n"
        opened = b"POST /open/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\x00"
        unknown = b"POST /idle/nosuchsession/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\x00"
        s.sendall(policy + ident + chunked + opened + unknown + policy)
        s.settimeout(5)
        data, kinds = b"", []
        while len(kinds) < 6:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                head = data[:end].decode("latin-1")
                length = int(next(line.split(":")[1] for line in head.split("\r\n") if line.lower().startswith("content-length")))
                if len(data) >= end + 4 + length:
                    body = data[end + 4:end + 4 + length]
                    kind = "policy" if body.startswith(b"<?xml") else "ident" if body == b"127.0.0.1\n" else "session" if body.strip().isalnum() else "other"
                    kinds.append(head.split(" ")[1] + ":" + kind)
                    data = data[end + 4 + length:]
                    continue
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return ",".join(kinds)
    if name.startswith("per-ip-"):
        # Opens N sockets at once and counts those closed without an answer.
        count = int(name[len("per-ip-"):])
        sockets = [connect() for _ in range(count)]
        time.sleep(0.5)
        closed = 0
        for s in sockets:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        for s in sockets:
            s.close()
        time.sleep(0.5)  # the listener frees the slots once it sees the closes
        return str(closed)
    raise SystemExit("unknown check " + name)


for name in sys.argv[2:]:
    print(name, check(name), flush=True)
