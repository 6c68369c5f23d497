"""Fixtures for the process tests: the real `ckeda run` tree under faults.

Each test starts its own supervisor on a table of its own (`ckeda-pt-<pid>-<n>`), every port 0,
and the timings it needs. The supervisor's stderr (with its children's, which inherit it) goes
to a file that is attached to the report of a failing test. Whatever a test does, the fixture
stops the tree (SIGTERM, wait, SIGKILL) and then checks that nothing is left: no process of
the tree, no /dev/shm/<name>, no /dev/shm/<name>.blobs.

The supervisor runs in a session of its own, so "the tree" is its process group: the roles it
fork+execs stay in that group, and a process of the group that outlives the supervisor is a
leak this fixture reports.

Tools: `Ckeda.ctl(...)` runs `ckedactl --shm-name N -o json ...` and parses the JSON;
`Ckeda.shmtool(...)` runs the test-only table writer; `wait_until(pred, timeout, what)` polls
with a deadline; `hold(pred, seconds, what)` asserts that something stays true for a while
(the only way to observe "is not restarted").

Timeouts are generous upper bounds for a loaded 2-core machine; `budget()` stretches them for
the sanitizer build, whose processes start and crash several times slower.
"""

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("CKEDA_SRC", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("CKEDA_BIN", SRC / "build"))
SANITIZE = os.environ.get("CKEDA_SANITIZE", "0").lower() in ("1", "on", "true", "yes")
CKEDA = BIN / "ckeda"
CKEDACTL = BIN / "ckedactl"
SHMTOOL = BIN / "tests" / "shmtool"

# Small tables: tests never need the default capacities, and a small table is quick to create,
# snapshot and scan.
SMALL_TABLE = ("--max-scaledobjects", "64", "--max-triggers", "256")
ALL_PORTS_0 = ("--secure-port", "0", "--webhook-port", "0", "--metrics-port", "0",
               "--health-port", "0")
# The supervisor's configuration comes from flags only: none of its environment variables.
CONFIG_ENV = ("KUBECONFIG", "WATCH_NAMESPACE", "POD_NAMESPACE", "KEDA_CLUSTER_OBJECT_NAMESPACE",
              "KEDA_HTTP_DEFAULT_TIMEOUT", "KEDA_RESTRICT_SECRET_ACCESS", "CKEDA_SHM_NAME")

# A heartbeat younger than this is "fresh" (roles beat at least once a second).
FRESH_HEARTBEAT_MS = 5000

_names = itertools.count()


def budget(seconds):
    """An upper bound in seconds, stretched for the sanitizer build."""
    return seconds * (3 if SANITIZE else 1)


def unique_name():
    return f"ckeda-pt-{os.getpid()}-{next(_names)}"


def shm_path(name):
    return Path("/dev/shm") / name


def blobs_path(name):
    return Path("/dev/shm") / f"{name}.blobs"


def child_env():
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV}
    return env


def wait_until(pred, timeout, what, interval=0.1):
    """Polls pred() until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} "
                                 f"(last: {last!r})")
        time.sleep(interval)


def hold(pred, seconds, what, interval=0.1):
    """Asserts that pred() stays truthy for `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        v = pred()
        assert v, f"{what} stopped holding (got {v!r})"
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def _reject_constant(name):
    raise ValueError(f"ckedactl printed {name}, which is not JSON")


def parse_json(text):
    """json.loads, refusing NaN and Infinity (Python would accept them)."""
    return json.loads(text, parse_constant=_reject_constant)


class CtlError(AssertionError):
    pass


def run_tool(argv, timeout=None, check=True):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout or budget(30), env=child_env())
    if check and r.returncode != 0:
        raise CtlError(f"{' '.join(map(str, argv))} exited {r.returncode}\n"
                       f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def ctl_json(*args, name=None, snapshot=None):
    argv = [CKEDACTL]
    if name:
        argv += ["--shm-name", name]
    if snapshot:
        argv += ["--snapshot", snapshot]
    return parse_json(run_tool(argv + ["-o", "json", *args]).stdout)


def group_members(pgid):
    """Live (non-zombie) processes of a process group: {pid: (state, cmdline)}."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            state, pgrp = fields[0], int(fields[2])
            if pgrp != pgid or state in ("Z", "X"):
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        found[int(d.name)] = (state, cmd.strip())
    return found


def pid_alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


class Ckeda:
    """One `ckeda run` tree on a table of its own."""

    def __init__(self, tmp_path, args=(), name=None):
        self.name = name or unique_name()
        self.args = list(args)
        self.log_path = tmp_path / f"{self.name}.log"
        self.proc = None
        # Set by tests that leave the table behind on purpose (kill -9, --keep-table):
        # the fixture then removes it instead of reporting it.
        self.leaves_table = "--keep-table" in self.args

    # -- life cycle --------------------------------------------------------------------------

    def argv(self):
        return [str(CKEDA), "run", "--shm-name", self.name, *ALL_PORTS_0, *SMALL_TABLE,
                *self.args]

    def start(self, wait=True):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True, env=child_env())
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=None):
        """Until the watcher, the adapters and the webhook run and heartbeat."""
        def ready():
            self.assert_running()
            if not shm_path(self.name).exists():
                return False
            try:
                # A stale table of the same name may still be there until ours replaces it.
                if self.status()["supervisor_pid"] != self.pid:
                    return False
                procs = self.workers()
            except CtlError:
                return False  # the header is being written
            fixed = [p for p in procs if p["role"] != "scaleworker"]
            return (len(fixed) >= 3 and
                    all(p["state"] == "running" and p["heartbeat_age_ms"] is not None and
                        p["heartbeat_age_ms"] < FRESH_HEARTBEAT_MS for p in fixed))
        wait_until(ready, timeout or budget(30), f"{self.name} to start its roles")

    def assert_running(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"ckeda run exited {self.proc.returncode} unexpectedly\n"
                                 f"{self.log_tail()}")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ckeda run (pid {self.pid}) still running after "
                                 f"{timeout:.0f} s\n{self.log_tail()}") from None

    def signal(self, sig):
        os.kill(self.pid, sig)

    def members(self):
        return group_members(self.pid)

    def wait_tree_gone(self, timeout=None):
        return wait_until(lambda: not self.members(),
                          timeout or budget(15), f"every process of {self.name}'s tree to exit")

    # -- inspection --------------------------------------------------------------------------

    def ctl(self, *args):
        return ctl_json(*args, name=self.name)

    def ctl_run(self, *args, json_output=False):
        argv = [CKEDACTL, "--shm-name", self.name] + (["-o", "json"] if json_output else [])
        return run_tool(argv + list(args), check=False)

    def shmtool(self, *args):
        return run_tool([SHMTOOL, "--shm-name", self.name, *args]).stdout

    def add(self, nsname, *triggers, polling_interval=1):
        """shmtool add; returns the trigger slots."""
        argv = ["add", nsname, "--polling-interval", str(polling_interval)]
        for t in triggers:
            argv += ["--trigger", t]
        return [int(s) for s in self.shmtool(*argv).split()]

    def workers(self):
        return self.ctl("workers")["processes"]

    def role(self, role):
        """The one process of a fixed role (watcher, adapter, webhook)."""
        procs = [p for p in self.workers() if p["role"] == role]
        assert len(procs) == 1, f"expected one {role}, got {procs}"
        return procs[0]

    def scaleworkers(self, suspect=None):
        return [p for p in self.workers() if p["role"] == "scaleworker" and
                (suspect is None or p["suspect"] == suspect)]

    def triggers(self):
        return {t["slot"]: t for t in self.ctl("triggers")["triggers"]}

    def status(self):
        return self.ctl("status")

    # -- logs --------------------------------------------------------------------------------

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=300):
        text = self.log_text().splitlines()
        head = f"--- {self.name} log ({len(text)} lines"
        if len(text) > lines:
            head += f", last {lines}"
            text = text[-lines:]
        return head + ") ---\n" + "\n".join(text)

    # -- teardown ----------------------------------------------------------------------------

    def stop(self):
        """SIGTERM, wait, SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=budget(30))
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)  # the group this fixture created
                self.proc.wait()
                raise AssertionError(f"{self.name}: ckeda run ignored SIGTERM; killed")
        return self.proc.returncode

    def remove_table(self):
        for p in (blobs_path(self.name),):
            if p.exists():
                for f in p.iterdir():
                    f.unlink()
                p.rmdir()
        shm_path(self.name).unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for inst in getattr(item, "_ckeda_instances", []):
            rep.sections.append((f"ckeda run --shm-name {inst.name}", inst.log_tail()))


@pytest.fixture
def ckeda(request, tmp_path):
    """Factory: ckeda(*flags, start=True) -> a running Ckeda. Everything started is stopped
    and checked for leftovers at the end of the test."""
    started = []
    request.node._ckeda_instances = started

    def factory(*args, start=True, **kw):
        inst = Ckeda(tmp_path, args, **kw)
        started.append(inst)
        if start:
            inst.start()
        return inst

    yield factory

    problems = []
    # Newest first: a later instance may have taken over an earlier one's table name.
    for inst in reversed(started):
        if inst.proc is None:
            continue
        was_running = inst.alive()
        try:
            code = inst.stop()
            if was_running and code != 0:
                problems.append(f"{inst.name}: exited {code} on SIGTERM")
        except AssertionError as e:
            problems.append(str(e))
        try:
            wait_until(lambda: not inst.members(), budget(15), "the tree to exit")
        except AssertionError:
            left = inst.members()
            problems.append(f"{inst.name}: processes left after the supervisor exited: {left}")
            try:
                os.killpg(inst.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not inst.leaves_table:
            for p in (shm_path(inst.name), blobs_path(inst.name)):
                if p.exists():
                    problems.append(f"{inst.name}: {p} left behind")
        inst.remove_table()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def lz4_block_decompress(src, size):
    """An LZ4 block decoder (the format of the snapshot body), to look inside snapshots."""
    out = bytearray()
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i:i + lit]
        i += lit
        if i >= n:
            break
        off = src[i] | (src[i + 1] << 8)
        i += 2
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - off
        if off >= ml:
            out += out[start:start + ml]
        else:
            pattern = bytes(out[start:])
            out += (pattern * (ml // off + 1))[:ml]
    if len(out) != size:
        raise ValueError(f"LZ4 block decoded to {len(out)} bytes, expected {size}")
    return bytes(out)


SNAPSHOT_HEADER = 56  # magic, version, reserved, raw, compressed, checksum, real ms, mono ms


def snapshot_image(path):
    """The raw table image inside a snapshot file."""
    data = Path(path).read_bytes()
    raw_size = int.from_bytes(data[16:24], "little")
    comp_size = int.from_bytes(data[24:32], "little")
    return lz4_block_decompress(data[SNAPSHOT_HEADER:SNAPSHOT_HEADER + comp_size], raw_size)
