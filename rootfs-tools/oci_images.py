#!/usr/bin/env python3
"""Build Gantry's busybox-based OCI image layouts offline (python3 stdlib only).

Usage: oci_images.py OUT_DIR [BUSYBOX_PATH]

Writes OUT_DIR/busybox and OUT_DIR/web, each an OCI image layout (image-spec v1.0)
whose index.json names the manifest `latest` through the
`org.opencontainers.image.ref.name` annotation. Layers are deterministic gzip tars:
fixed mtimes, sorted entries, uid/gid 0, so the same busybox binary always gives the
same digests.
"""

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile

MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
CREATED = "1970-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

PASSWD = """root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
app:x:1000:
nogroup:x:65534:
nobody:x:65534:
"""


def goarch():
    """The host architecture under its GOARCH name (what image configs use)."""
    m = platform.machine().lower()
    return {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm",
        "armv6l": "arm",
        "i386": "386",
        "i686": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(m, m)


class Layer:
    """An in-memory layer: path -> entry, serialised sorted by path."""

    def __init__(self):
        self.entries = {}

    def dir(self, path, mode=0o755):
        self.entries[path] = ("dir", mode, None)

    def file(self, path, data, mode=0o644):
        self.entries[path] = ("file", mode, data)

    def symlink(self, path, target):
        self.entries[path] = ("symlink", 0o777, target)

    def tar_bytes(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                kind, mode, payload = self.entries[path]
                info = tarfile.TarInfo(path + ("/" if kind == "dir" else ""))
                info.mtime = MTIME
                info.mode = mode
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif kind == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = payload
                    tar.addfile(info)
                else:
                    info.type = tarfile.REGTYPE
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        return buf.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of host details.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class LayoutWriter:
    def __init__(self, root):
        self.root = root
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(os.path.join(root, "blobs", "sha256"))
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data, media_type):
        digest = sha256(data)
        with open(os.path.join(self.root, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def finish(self, layers, config_body, tag):
        """layers: list of (Layer, comment). config_body: the `config` object."""
        layer_descs, diff_ids, history = [], [], []
        for layer, comment in layers:
            raw = layer.tar_bytes()
            diff_ids.append(sha256(raw))
            layer_descs.append(self.blob(gzip_bytes(raw), MT_LAYER_GZIP))
            history.append({"created": CREATED, "created_by": comment})
        config = {
            "created": CREATED,
            "architecture": goarch(),
            "os": "linux",
            "config": config_body,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        config_desc = self.blob(canonical(config), MT_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": config_desc,
            "layers": layer_descs,
        }
        manifest_desc = self.blob(canonical(manifest), MT_MANIFEST)
        manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
        manifest_desc["platform"] = {"architecture": goarch(), "os": "linux"}
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [manifest_desc]}
        with open(os.path.join(self.root, "index.json"), "wb") as f:
            f.write(canonical(index))
        return manifest_desc["digest"]


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def busybox_layer(busybox):
    with open(busybox, "rb") as f:
        binary = f.read()
    applets = subprocess.run(
        [busybox, "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    layer = Layer()
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin",
              "etc", "home", "var", "var/log", "proc", "sys", "dev", "run", "mnt"]:
        layer.dir(d)
    layer.dir("root", 0o700)
    layer.dir("tmp", 0o1777)
    layer.dir("var/tmp", 0o1777)
    layer.dir("home/app", 0o755)
    layer.file("bin/busybox", binary, 0o755)
    for applet in applets:
        # Only the usual FHS directories; `linuxrc` and friends are left out.
        if "/" not in applet or applet.split("/")[0] not in ("bin", "sbin", "usr"):
            continue
        if applet == "bin/busybox":
            continue
        layer.symlink(applet, "/bin/busybox")
    layer.file("etc/passwd", PASSWD.encode())
    layer.file("etc/group", GROUP.encode())
    layer.file("etc/hostname", b"gantry\n")
    layer.file("etc/hosts", b"127.0.0.1\tlocalhost\n::1\tlocalhost\n")
    return layer


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: oci_images.py OUT_DIR [BUSYBOX_PATH]")
    out = sys.argv[1]
    busybox = sys.argv[2] if len(sys.argv) == 3 else "/bin/busybox"
    if not os.access(busybox, os.X_OK):
        sys.exit(f"{busybox} not found: install Debian's busybox-static (apt-get install busybox-static)")
    os.makedirs(out, exist_ok=True)
    base = busybox_layer(busybox)
    base_cfg = {"Env": [PATH_ENV], "Cmd": ["sh"]}

    digest = LayoutWriter(os.path.join(out, "busybox")).finish(
        [(base, "gantry rootfs-tools: busybox-static")], base_cfg, "latest")
    print(f"{os.path.join(out, 'busybox')}:latest {digest}")

    www = Layer()
    www.dir("www")
    www.file("www/index.html", b"Hello from Gantry\n")
    web_cfg = {
        "Env": [PATH_ENV],
        "Cmd": ["httpd", "-f", "-v", "-p", "80", "-h", "/www"],
        "ExposedPorts": {"80/tcp": {}},
    }
    digest = LayoutWriter(os.path.join(out, "web")).finish(
        [(base, "gantry rootfs-tools: busybox-static"),
         (www, "gantry rootfs-tools: /www/index.html")], web_cfg, "latest")
    print(f"{os.path.join(out, 'web')}:latest {digest}")


if __name__ == "__main__":
    main()
