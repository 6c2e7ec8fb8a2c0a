"""Write a single-layer docker-archive (what `docker save` writes and
`ctr images import` reads) from a few files, with no registry and no daemon.

Usage:
  python3 lab/image_archive.py OUT.tar --tag REF [--entrypoint JSON] [--cmd JSON]
                   [--env K=V]... [--workdir DIR] [--rootfs DIR] [FILE=SRC[:MODE]...]

FILE is the path inside the image, SRC a file on this machine; --rootfs puts a
whole directory tree (a debootstrapped root) under them. The layer is
reproducible: fixed owner (0:0) and mtime (0), entries sorted, so the same
binaries give the same image ID.
"""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile


def _dir_entries(paths):
    """Every parent directory of the given paths, shallow first."""
    dirs = set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def _reproducible(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def build_layer(files, extra_dirs, rootfs=None):
    """files: {path in image: (source, mode)}; returns the layer tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if rootfs:
            for entry in sorted(os.listdir(rootfs)):
                tar.add(os.path.join(rootfs, entry), arcname=entry, filter=_reproducible)
        for name, mode in [(d, 0o755) for d in _dir_entries(files)] + extra_dirs:
            info = tarfile.TarInfo(name.strip("/"))
            info.type = tarfile.DIRTYPE
            info.mode = mode
            info.mtime = 0
            tar.addfile(info)
        for name in sorted(files):
            source, mode = files[name]
            info = tarfile.TarInfo(name.strip("/"))
            info.size = os.path.getsize(source)
            info.mode = mode
            info.mtime = 0
            with open(source, "rb") as handle:
                tar.addfile(info, handle)
    return buf.getvalue()


def write_archive(out, tag, files, entrypoint=None, cmd=None, env=None, workdir=None, rootfs=None):
    # /tmp for programs that want a scratch directory; mode 1777 as on any system.
    layer = build_layer(files, [] if rootfs else [("tmp", 0o1777)], rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": env or ["PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "packetjungle.datapath lab/image_archive.py"}],
    }
    if entrypoint is not None:
        config["config"]["Entrypoint"] = entrypoint
    if cmd is not None:
        config["config"]["Cmd"] = cmd
    if workdir:
        config["config"]["WorkingDir"] = workdir
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]

    tmp = out + ".partial"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [
            (layer_name, layer),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, out)
    return config_name[:-5]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--entrypoint", type=json.loads)
    parser.add_argument("--cmd", type=json.loads)
    parser.add_argument("--env", action="append")
    parser.add_argument("--workdir")
    parser.add_argument("--rootfs", metavar="DIR")
    parser.add_argument("files", nargs="*", metavar="FILE=SRC[:MODE]")
    # Intermixed: FILE=SRC may follow options, and nargs="*" would otherwise
    # be taken (empty) together with OUT.
    args = parser.parse_intermixed_args(argv)
    files = {}
    for spec in args.files:
        name, source = spec.split("=", 1) if "=" in spec else (spec, "")
        mode = 0o755
        if ":" in source:
            source, mode_text = source.rsplit(":", 1)
            mode = int(mode_text, 8)
        if not name.startswith("/") or not os.path.isfile(source):
            parser.error("%s: expected /PATH/IN/IMAGE=EXISTING_FILE[:MODE]" % spec)
        files[name] = (source, mode)
    if not files and not args.rootfs:
        parser.error("nothing to put in the image: give --rootfs or FILE=SRC")
    if args.rootfs and not os.path.isdir(args.rootfs):
        parser.error("--rootfs %s: not a directory" % args.rootfs)
    image_id = write_archive(args.out, args.tag, files, args.entrypoint, args.cmd, args.env, args.workdir,
                             args.rootfs)
    print("%s sha256:%s" % (args.tag, image_id))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
