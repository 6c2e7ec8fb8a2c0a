#!/usr/bin/env bash
# Make this machine ready to run lab nodes: Docker engine, debootstrap, and the
# packetjungle-runc runtime registered and live. Idempotent; a second run changes
# nothing and takes well under a second.
#
# Usage: scripts/ensure-docker.sh [--quiet]
# Prints each action it takes; --quiet leaves out the final "docker ready" line, so
# callers can tell from empty output that nothing changed.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_DIR
readonly RUNTIME_NAME="packetjungle-runc"
readonly WRAPPER_SRC="${REPO_DIR}/lab/runc_wrapper.py"
readonly WRAPPER_DST="/usr/local/libexec/packetjungle-runc"
readonly DAEMON_JSON="/etc/docker/daemon.json"
readonly DOCKERD_LOG="/var/log/dockerd.log"
readonly START_TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"
# /usr/bin/python3 rather than whatever `python3` is first on PATH (pyenv shims):
# the wrapper runs under dockerd, which does not see the login PATH.
readonly PYTHON="/usr/bin/python3"

say() { printf 'ensure-docker: %s\n' "$*"; }
die() { printf 'ensure-docker: ERROR: %s\n' "$*" >&2; exit 1; }

[[ ${EUID} -eq 0 ]] || die "must run as root (installs packages, writes ${DAEMON_JSON}, starts dockerd)"

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [[ -x ${PYTHON} ]] || missing+=(python3-minimal)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The repository copy carries no shebang (ansible-test allows only a fixed
# set); the installed one runs with Debian's python3, whatever PATH dockerd has.
install_wrapper() {
  local want
  want="$(mktemp)"
  { printf '#!%s\n' "${PYTHON}"; cat "${WRAPPER_SRC}"; } >"${want}"
  if cmp -s "${want}" "${WRAPPER_DST}"; then
    rm -f "${want}"
    return
  fi
  install -D -m 0755 "${want}" "${WRAPPER_DST}"
  rm -f "${want}"
  say "installed runc wrapper at ${WRAPPER_DST}"
}

# Adds our runtime to daemon.json, keeping every other key. Exit status 0 when the
# file changed, 1 when it already had the entry.
register_runtime() {
  mkdir -p "$(dirname "${DAEMON_JSON}")"
  "${PYTHON}" - "${DAEMON_JSON}" "${RUNTIME_NAME}" "${WRAPPER_DST}" <<'PY'
import json, os, sys, tempfile
path, name, wrapper = sys.argv[1:]
try:
    with open(path) as handle:
        config = json.load(handle)
except FileNotFoundError:
    config = {}
wanted = {"path": wrapper}
if config.get("runtimes", {}).get(name) == wanted:
    sys.exit(1)
config.setdefault("runtimes", {})[name] = wanted
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".daemon.json.")
with os.fdopen(fd, "w") as handle:
    json.dump(config, handle, indent=2, sort_keys=True)
    handle.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, path)
PY
}

dockerd_pid() {
  local pid
  pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
  if [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null; then
    printf '%s\n' "${pid}"
  fi
}

has_systemd() { [[ -d /run/systemd/system ]]; }

wait_for_docker() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until docker info >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      printf 'ensure-docker: ERROR: dockerd did not answer within %ss; last lines of %s:\n' \
        "${START_TIMEOUT}" "${DOCKERD_LOG}" >&2
      tail -n 20 "${DOCKERD_LOG}" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.5
  done
}

start_dockerd() {
  if has_systemd; then
    systemctl start docker
  else
    # No systemd as PID 1 here: run dockerd in its own session so it outlives
    # the shell (and job control) that started it, with no descriptor of ours
    # above 2: a lock our caller holds (lab.sh) would otherwise stay held by
    # dockerd and every containerd shim for as long as Docker runs.
    "${REPO_DIR}/scripts/detach.sh" "${DOCKERD_LOG}" dockerd >/dev/null
  fi
  say "started dockerd (log: ${DOCKERD_LOG})"
  wait_for_docker
}

runtime_live() {
  docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"${RUNTIME_NAME}\""
}

# dockerd reloads `runtimes` on SIGHUP, which keeps running containers alive;
# a restart is the fallback if the reload did not take.
reload_dockerd() {
  local pid="$1"
  kill -HUP "${pid}"
  for _ in $(seq 20); do
    runtime_live && { say "reloaded dockerd (SIGHUP) to pick up ${RUNTIME_NAME}"; return; }
    sleep 0.25
  done
  say "reload did not register ${RUNTIME_NAME}; restarting dockerd"
  if has_systemd; then
    systemctl restart docker
    wait_for_docker
  else
    kill "${pid}"
    while kill -0 "${pid}" 2>/dev/null; do sleep 0.2; done
    start_dockerd
  fi
}

main() {
  local quiet=false
  case "${1:-}" in
    --quiet) quiet=true ;;
    "") ;;
    *) die "unknown argument '$1' (accepted: --quiet)" ;;
  esac

  install_packages
  install_wrapper

  local config_changed=false
  if register_runtime; then
    config_changed=true
    say "registered runtime ${RUNTIME_NAME} in ${DAEMON_JSON}"
  fi

  local pid
  pid="$(dockerd_pid)"
  if [[ -z ${pid} ]]; then
    start_dockerd
  else
    wait_for_docker
    if [[ ${config_changed} == true ]] || ! runtime_live; then
      reload_dockerd "${pid}"
    fi
  fi

  runtime_live || die "dockerd is up but does not list runtime ${RUNTIME_NAME}; see ${DOCKERD_LOG}"
  [[ ${quiet} == true ]] ||
    say "docker ready (server $(docker version --format '{{.Server.Version}}'), runtime ${RUNTIME_NAME})"
}

main "$@"
