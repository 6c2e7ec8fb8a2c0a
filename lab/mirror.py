"""The lab's package and image mirror: what an air-gapped region's mirror host
serves, for lab nodes that cannot reach any registry.

Serves one directory over plain HTTP (read-only, GET and HEAD):
  /v2/...       a pull-only OCI distribution API over the docker-archive files
                in DIR/images/*.tar (lab/image_archive.py, scripts/*-images.sh):
                an image tagged quay.io/cilium/cilium:v1.19.4 is pulled by
                containerd through certs.d/quay.io/hosts.toml as
                /v2/cilium/cilium/manifests/v1.19.4?ns=quay.io
  anything else a file under DIR (the signed apt repository in DIR/apt/).

Usage: python3 lab/mirror.py DIR --listen ADDRESS:PORT
It runs until killed; scripts/lab.sh starts and stops it with the lab.
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import tarfile
import threading

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
_CHUNK = 1 << 20


def _sha256_member(handle, member):
    digest = hashlib.sha256()
    handle.seek(member.offset_data)
    left = member.size
    while left:
        block = handle.read(min(_CHUNK, left))
        digest.update(block)
        left -= len(block)
    return "sha256:" + digest.hexdigest()


def index_archive(path):
    """One docker-archive -> (tags, manifest bytes, {digest: (path, offset, size)})."""
    with tarfile.open(path) as tar, open(path, "rb") as handle:
        members = {member.name: member for member in tar.getmembers()}
        entries = json.loads(tar.extractfile(members["manifest.json"]).read())
        blobs = {}
        images = []
        for entry in entries:
            config_member = members[entry["Config"]]
            config_digest = _sha256_member(handle, config_member)
            blobs[config_digest] = (path, config_member.offset_data, config_member.size)
            layers = []
            for name in entry["Layers"]:
                member = members[name]
                digest = _sha256_member(handle, member)
                blobs[digest] = (path, member.offset_data, member.size)
                layers.append({"mediaType": LAYER, "digest": digest, "size": member.size})
            manifest = json.dumps({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_member.size},
                "layers": layers,
            }, sort_keys=True).encode()
            images.append((entry.get("RepoTags") or [], manifest))
    return images, blobs


class Store:
    """Tags, manifests and blobs of every archive in DIR/images, re-read when
    that directory changes (an image rebuilt while the lab runs)."""

    def __init__(self, root):
        self.images_dir = os.path.join(root, "images")
        self._lock = threading.Lock()
        self._stamp = None
        self.tags, self.manifests, self.blobs = {}, {}, {}

    def _refresh(self):
        try:
            names = sorted(n for n in os.listdir(self.images_dir) if n.endswith(".tar"))
        except FileNotFoundError:
            names = []
        paths = [os.path.join(self.images_dir, n) for n in names]
        stamp = [(p, os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths]
        if stamp == self._stamp:
            return
        tags, manifests, blobs = {}, {}, {}
        for path in paths:
            images, archive_blobs = index_archive(path)
            blobs.update(archive_blobs)
            for repo_tags, manifest in images:
                digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
                manifests[digest] = manifest
                for tag in repo_tags:
                    tags[tag] = digest
        self.tags, self.manifests, self.blobs, self._stamp = tags, manifests, blobs, stamp

    def manifest(self, registry, name, reference):
        with self._lock:
            self._refresh()
            if not reference.startswith("sha256:"):
                full = "%s/%s:%s" % (registry, name, reference) if registry else "%s:%s" % (name, reference)
                reference = self.tags.get(full, "")
            return reference, self.manifests.get(reference)

    def blob(self, digest):
        with self._lock:
            self._refresh()
            return self.blobs.get(digest)


_V2 = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


class Handler(http.server.SimpleHTTPRequestHandler):
    store = None

    def log_message(self, *args):  # one line per blob would drown the lab's logs
        pass

    def _send(self, code, headers, body=b""):
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _v2(self):
        path, _sep, query = self.path.partition("?")
        if path.rstrip("/") == "/v2":
            return self._send(200, {"Content-Type": "application/json", "Content-Length": "2"}, b"{}")
        match = _V2.match(path)
        if not match:
            return self._send(404, {"Content-Length": "0"})
        params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        registry = params.get("ns", "")
        if match["kind"] == "manifests":
            digest, body = self.store.manifest(registry, match["name"], match["ref"])
            if body is None:
                return self._send(404, {"Content-Length": "0"})
            return self._send(200, {"Content-Type": MANIFEST, "Docker-Content-Digest": digest,
                                    "Content-Length": str(len(body))}, body)
        found = self.store.blob(match["ref"])
        if found is None:
            return self._send(404, {"Content-Length": "0"})
        path, offset, size = found
        self._send(200, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": match["ref"],
                         "Content-Length": str(size)})
        if self.command == "HEAD":
            return None
        with open(path, "rb") as handle:
            handle.seek(offset)
            left = size
            while left:
                block = handle.read(min(_CHUNK, left))
                self.wfile.write(block)
                left -= len(block)
        return None

    def do_GET(self):
        if self.path.startswith("/v2"):
            return self._v2()
        return super().do_GET()

    def do_HEAD(self):
        if self.path.startswith("/v2"):
            return self._v2()
        return super().do_HEAD()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--listen", required=True, metavar="ADDRESS:PORT")
    args = parser.parse_args(argv)
    address, port = args.listen.rsplit(":", 1)
    Handler.store = Store(args.root)

    def handler(*handler_args, **kwargs):
        return Handler(*handler_args, directory=args.root, **kwargs)
    server = http.server.ThreadingHTTPServer((address, int(port)), handler)
    server.daemon_threads = True
    print("mirror: serving %s on http://%s:%s/" % (args.root, address, port), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
