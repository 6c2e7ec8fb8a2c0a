"""The lab's lock and what is started under it. A process inherits every
descriptor its parent has open, and an flock lasts as long as any of them:
dockerd, started by `scripts/lab.sh up` through scripts/ensure-docker.sh, used
to get lab.sh's lock descriptor, so the default lab stayed locked for as long as
Docker ran and the next `lab.sh up` or `down` waited forever.

Both scripts run for real here, with real long-lived processes (`sleep`)
standing in for dockerd and the containerd shims; nothing of Docker is
created or stopped (the lab prefix pj-locktest has no nodes)."""
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import ROOT, run

SLEEP = "60"


def lock_holders(path):
    """(pid, cmdline) of every process with a descriptor open on path."""
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = "/proc/%s/fd" % pid
        try:
            targets = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # exited while we looked
            continue
        if str(path) in targets:
            holders.append((int(pid), cmdline))
    return holders


def lock_is_free(path):
    return subprocess.run(["flock", "--nonblock", str(path), "true"], check=False).returncode == 0


def alive(pid):
    """True while pid runs; a zombie nobody reaps yet counts as gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_all(pids):
    """SIGKILL each pid and wait (at most 5 s) until none runs."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_detached_daemon_inherits_no_descriptor(tmp_path):
    """scripts/detach.sh (how ensure-docker.sh starts dockerd), called while
    the caller holds an flock on fd 8 and has other descriptors open: the
    daemon has only stdin, stdout and stderr, a session of its own, and the
    lock is free as soon as the caller has exited."""
    lock, log = tmp_path / "lock", tmp_path / "daemon.log"
    caller = 'exec 8>"$1" 9<"$1" 200>/dev/null; flock 8; scripts/detach.sh "$2" sleep ' + SLEEP
    pid = None
    try:
        proc = run(["bash", "-c", caller, "caller", str(lock), str(log)], timeout=20)
        assert proc.returncode == 0, proc.stderr
        pid = int(proc.stdout.split()[-1])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # detach.sh returns before the exec
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                if handle.read().split(b"\0")[:2] == [b"sleep", SLEEP.encode()]:
                    break
            time.sleep(0.02)
        else:
            pytest.fail("process %d never became `sleep %s`" % (pid, SLEEP))

        fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)}
        assert str(lock) not in fds.values(), "the daemon holds the caller's lock: %s" % fds
        assert sorted(fds) == [0, 1, 2], fds
        assert fds[0] == "/dev/null" and fds[1] == fds[2] == str(log), fds
        with open("/proc/%d/stat" % pid) as handle:
            session = int(handle.read().rsplit(")", 1)[1].split()[3])
        assert session == pid, "not the leader of its own session"
        assert alive(pid)
        assert lock_is_free(lock), "lock still held after the caller exited: %s" % lock_holders(lock)
    finally:
        if pid is not None:
            kill_all([pid])


@pytest.mark.skipif(os.geteuid() != 0, reason="scripts/lab.sh runs as root")
@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_lab_commands_leave_their_lock_free(tmp_path):
    """`lab.sh down` twice and `status`, for a prefix that has no nodes,
    with a `docker` on PATH that leaves a process running behind it, as
    starting dockerd does. After each command nothing holds the lock file:
    the second `down` does not wait, and flock --nonblock gets the lock."""
    real_docker = shutil.which("docker")
    leftovers = tmp_path / "leftovers"
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "docker"
    shim.write_text(
        "#!/bin/sh\n"
        "# Stands in for dockerd and the shims: outlives the lab command that ran it.\n"
        "sleep %s </dev/null >/dev/null 2>&1 &\n"
        'echo $! >>"%s"\n'
        'exec "%s" "$@"\n' % (SLEEP, leftovers, real_docker))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    cache = tmp_path / "cache"
    lock = cache / "packetjungle-datapath" / "lab" / ".lock-pj-locktest"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), LAB_PREFIX="pj-locktest",
               PATH="%s:%s" % (shim_dir, os.environ["PATH"]))
    try:
        for command in ("down", "down", "status"):
            proc = run([os.path.join(ROOT, "scripts", "lab.sh"), command], env=env, timeout=30)
            assert proc.returncode == 0, proc.stderr
            assert lock.exists()
            assert lock_holders(lock) == [], "after `lab.sh %s`" % command
            assert lock_is_free(lock), "after `lab.sh %s`" % command
        started = leftovers.read_text().split()
        assert started, "lab.sh ran no docker command: the test proves nothing"
        assert all(alive(int(pid)) for pid in started), "the stand-ins exited early: the test proves nothing"
    finally:
        if leftovers.exists():
            kill_all([int(pid) for pid in leftovers.read_text().split()])
