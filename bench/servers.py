"""What the benchmarks share: loopback ports, and a server process's CPU and memory."""
import os
import socket
import time

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_seconds(pid):
    """utime + stime of the whole process, threads that have ended included (moto's server
    starts a thread per connection)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    """Peak private (RssAnon) and file-backed (RssFile: code and libraries, shared with
    every other process mapping them) memory of a process, sampled every 20 ms while the
    `with` block runs. VmHWM alone cannot tell a server's working memory from the size of
    the libraries it maps."""

    def __init__(self, pid):
        self.pid = pid
        self.anon_mb = 0.0
        self.file_mb = 0.0
        self._running = False

    def _sample(self):
        values = {}
        for line in open(f"/proc/{self.pid}/status"):
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) / 1024
        self.anon_mb = max(self.anon_mb, values.get("RssAnon", 0.0))
        self.file_mb = max(self.file_mb, values.get("RssFile", 0.0))

    def _loop(self):
        while self._running:
            self._sample()
            time.sleep(0.02)

    def __enter__(self):
        import threading
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self._sample()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, ".build", "release", "sluice")


def build_sluice(*products):
    """Release builds of the named products (default: sluice)."""
    import subprocess
    for product in products or ("sluice",):
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)


def sluice_environment(**settings):
    """The caller's environment without its SLUICE_ settings (a bench measures defaults),
    plus the settings given."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    environment.update(settings)
    return environment


def start_sluice(data, rtmp_port=0, http_port=-1, s3_port=-1, control_port=-1, log_level="warning", stderr=None, environment=None):
    """`sluice serve` on loopback with only the listeners asked for (-1 turns one off, 0
    picks a free port); waits for the first port given that is above 0."""
    import subprocess
    process = subprocess.Popen(
        [SLUICE, "serve", "--data", data, "--rtmp-host", "127.0.0.1", f"--rtmp-port={rtmp_port}", f"--http-port={http_port}",
         f"--s3-port={s3_port}", f"--control-port={control_port}", "--log-level", log_level],
        env=environment or sluice_environment(), stderr=stderr)
    waited = next((port for port in (rtmp_port, http_port, s3_port, control_port) if port > 0), None)
    if waited:
        wait_port(waited)
    return process


def stop_sluice(process):
    import signal
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
