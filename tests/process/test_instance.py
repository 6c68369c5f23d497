"""One supervisor per table, and configuration errors that stop the start-up (exit 78):
a second instance on a live table, a port in use, an unknown flag or YAML key, a bad value.
A table left by a supervisor killed with SIGKILL (whose children died with it) is stale and is
replaced by the next start, config blobs included."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import (CKEDA, SMALL_TABLE, blobs_path, budget, child_env, group_members,
                      shm_path, unique_name, wait_until)

EX_CONFIG = 78


def run_to_exit(args, timeout=None):
    """Runs `ckeda run ARGS` that is expected to exit on its own; returns (code, stderr, secs)."""
    t0 = time.monotonic()
    p = subprocess.run([str(CKEDA), "run", *args], capture_output=True, text=True,
                       timeout=timeout or budget(20), env=child_env(), start_new_session=True)
    return p.returncode, p.stderr, time.monotonic() - t0


def ports0(*skip):
    out = []
    for flag in ("--secure-port", "--webhook-port", "--metrics-port", "--health-port"):
        if flag not in skip:
            out += [flag, "0"]
    return out


def assert_no_table(name):
    assert not shm_path(name).exists(), f"{shm_path(name)} left behind"
    assert not blobs_path(name).exists(), f"{blobs_path(name)} left behind"


def test_second_instance_on_a_live_table_exits_78(ckeda):
    first = ckeda()
    before = {p["slot"]: p["pid"] for p in first.workers()}
    (trig,) = first.add("ns/so", "ckeda-test,value=3")

    code, err, secs = run_to_exit(["--shm-name", first.name, *ports0(), *SMALL_TABLE])
    assert code == EX_CONFIG, err
    assert first.name in err and "another running instance" in err, err
    assert secs < budget(10)

    # The first instance did not notice: same supervisor, same children, same table contents.
    first.assert_running()
    assert first.status()["supervisor_pid"] == first.pid
    after = {p["slot"]: p["pid"] for p in first.workers()}
    assert {s: after[s] for s in before} == before
    wait_until(lambda: first.triggers()[trig]["state"] == "ACTIVE", budget(30),
               "the first instance to keep serving its trigger")
    assert first.ctl_run("check").returncode == 0


def test_stale_table_of_a_killed_supervisor_is_replaced(ckeda):
    old = ckeda()
    old.leaves_table = True  # SIGKILL leaves it; the next start must replace it
    old.add("ns/old", "ckeda-test,value=1")
    wait_until(lambda: len(old.scaleworkers()) == 1 and old.scaleworkers()[0]["pid"],
               budget(30), "a scale worker")
    children = {p["pid"] for p in old.workers() if p["pid"]}
    assert len(children) == 4
    old_blobs = set(os.listdir(blobs_path(old.name)))
    assert old_blobs, "shmtool wrote no config blob"

    old.signal(signal.SIGKILL)
    old.proc.wait()
    # Its children die with it (PR_SET_PDEATHSIG, and the liveness pipe reaching EOF).
    wait_until(lambda: not group_members(old.pid), budget(10),
               f"the children {sorted(children)} to die with their supervisor")
    assert shm_path(old.name).exists() and blobs_path(old.name).exists()

    new = ckeda(name=old.name)
    st = new.status()
    assert st["supervisor_pid"] == new.pid
    assert st["scaledobjects"] == 0
    assert new.ctl("ls")["scaledobjects"] == []
    assert not old_blobs & set(os.listdir(blobs_path(new.name))), \
        "the stale table's config blobs (which may hold credentials) were kept"
    pids = {p["pid"] for p in new.workers()}
    assert not pids & children
    (trig,) = new.add("ns/new", "ckeda-test,value=2")
    wait_until(lambda: new.triggers()[trig]["state"] == "ACTIVE", budget(30),
               "the new instance to serve a trigger")
    assert new.ctl_run("check").returncode == 0


@pytest.mark.parametrize("flag", ["--secure-port", "--webhook-port", "--metrics-port",
                                  "--health-port"])
def test_port_in_use_exits_78_naming_it(flag):
    name = unique_name()
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        s.listen()
        port = s.getsockname()[1]
        code, err, secs = run_to_exit(["--shm-name", name, *ports0(flag), flag, str(port),
                                       *SMALL_TABLE])
    assert code == EX_CONFIG, err
    assert str(port) in err and flag[2:] in err, err
    assert secs < budget(10)
    assert_no_table(name)


def write_config(tmp_path, text):
    path = tmp_path / "ckeda.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", ["unknown-flag", "unknown-yaml-key", "bad-flag-value",
                                  "bad-yaml-value", "flag-without-value"])
def test_configuration_errors_exit_78_naming_the_key(tmp_path, case):
    name = unique_name()
    base = ["--shm-name", name, *ports0(), *SMALL_TABLE]
    if case == "unknown-flag":
        args, key = base + ["--no-such-flag", "1"], "--no-such-flag"
    elif case == "unknown-yaml-key":
        cfg = write_config(tmp_path, "adapters: 2\nno-such-key: 1\n")
        args, key = ["--config", cfg] + base, "no-such-key"
    elif case == "bad-flag-value":
        args, key = base + ["--adapters", "0"], "adapters"
    elif case == "bad-yaml-value":
        cfg = write_config(tmp_path, "grace-period: soon\n")
        args, key = ["--config", cfg] + base, "grace-period"
    else:
        args, key = base + ["--watchdog-timeout"], "watchdog-timeout"
    code, err, _ = run_to_exit(args)
    assert code == EX_CONFIG, err
    first = err.splitlines()[0] if err else ""
    assert key in first, f"the first line of stderr does not name {key}: {err}"
    if "yaml" in case:
        assert "ckeda.yaml" in first, f"the message does not name the file: {first}"
    assert_no_table(name)
