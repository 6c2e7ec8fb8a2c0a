#!/usr/bin/env bash
# Start a long-lived daemon detached from its caller: a session of its own,
# stdin from /dev/null, stdout and stderr appended to LOG, and no descriptor
# above 2. The last part is the reason this exists: a daemon keeps every
# descriptor it inherits for as long as it runs, and passes it on to what it
# starts. dockerd started under `scripts/lab.sh up` used to inherit the lab's
# flock, so dockerd and every containerd shim held that lock until Docker
# stopped, and every later `lab.sh up` or `down` of the prefix waited forever.
#
# Usage: scripts/detach.sh LOG COMMAND [ARG...]
# Prints the daemon's PID and returns at once, without waiting for it.
set -euo pipefail

die() { printf 'detach: ERROR: %s\n' "$*" >&2; exit 1; }

# Closes every descriptor above 2 of the calling (sub)shell. bash expands the
# glob itself, so /proc/self is this process; the descriptor the listing used
# is already closed when the loop reaches it, and closing it again is a no-op.
close_inherited_fds() {
  local entry fd
  for entry in /proc/self/fd/*; do
    fd="${entry##*/}"
    ((fd > 2)) || continue
    exec {fd}>&-
  done
}

main() {
  (($# >= 2)) || die "usage: detach.sh LOG COMMAND [ARG...]"
  local log="$1"
  shift
  command -v "$1" >/dev/null || die "$1: command not found"
  : >>"${log}" || die "cannot append to ${log}"
  (
    close_inherited_fds
    # The subshell is not a process group leader (no job control in a
    # script), so setsid execs in place and the PID printed below is the
    # daemon's. nohup: SIGHUP is not a reason for it to exit.
    exec setsid nohup "$@" </dev/null >>"${log}" 2>&1
  ) &
  printf '%s\n' "$!"
}

main "$@"
