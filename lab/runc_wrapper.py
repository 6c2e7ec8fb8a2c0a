# Docker runtime for lab nodes: runc, minus the capabilities the host cannot grant.
#
# `docker run --privileged` asks runc for every capability. On machines whose own
# bounding set lacks CAP_SYS_RESOURCE, runc then fails with "unable to apply caps:
# operation not permitted", and `--cap-drop` is ignored under --privileged. So this
# wrapper strips capabilities outside our bounding set from the OCI spec runc is
# about to read (bundle config.json on create/run, the --process file on exec) and
# hands over to the real runc with the same arguments. Where the host grants every
# capability it changes nothing.
import json
import os
import sys
import tempfile

RUNC = "/usr/sbin/runc"
# Bit numbers from linux/capability.h for the capabilities that can be missing.
CAP_BITS = {"CAP_SYS_RESOURCE": 24}
# runc global options that take a value in the next argument.
GLOBAL_VALUE_OPTS = {"--root", "--log", "--log-format", "--criu", "--rootless"}


def missing_caps():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapBnd:"):
                bounding = int(line.split()[1], 16)
                return {name for name, bit in CAP_BITS.items() if not bounding >> bit & 1}
    return set()


def option_value(args, names):
    """Value of the first of `names` in `args` (`-p X`, `--process X` or `--process=X`)."""
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    return None


def split_command(args):
    """Index of the runc subcommand, skipping global options and their values."""
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            return i
        i += 2 if arg in GLOBAL_VALUE_OPTS else 1
    return None


def strip(caps_holder, drop):
    changed = False
    for key, value in caps_holder.items():
        if isinstance(value, list):
            kept = [c for c in value if c not in drop]
            changed |= len(kept) != len(value)
            caps_holder[key] = kept
    return changed


def rewrite(path, get_caps, drop):
    with open(path) as handle:
        doc = json.load(handle)
    caps = get_caps(doc)
    if not caps or not strip(caps, drop):
        return
    # Atomic replace: runc may be reading the bundle from another process.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".caps-")
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def main():
    args = sys.argv[1:]
    drop = missing_caps()
    idx = split_command(args)
    if drop and idx is not None:
        command, sub = args[idx], args[idx + 1:]
        if command in ("create", "run"):
            bundle = option_value(sub, ("-b", "--bundle")) or os.getcwd()
            rewrite(os.path.join(bundle, "config.json"),
                    lambda d: d.get("process", {}).get("capabilities"), drop)
        elif command == "exec":
            process = option_value(sub, ("-p", "--process"))
            if process:
                rewrite(process, lambda d: d.get("capabilities"), drop)
    os.execv(RUNC, [RUNC] + args)


if __name__ == "__main__":
    main()
