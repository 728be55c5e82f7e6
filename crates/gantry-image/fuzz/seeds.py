#!/usr/bin/env python3
"""Writes seed inputs for the `unpack` target into corpus/unpack/: small layers using every
entry type the unpacker handles. Byte 0 selects gzip (odd) or plain tar (even)."""
import gzip, io, os, tarfile

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "unpack")
os.makedirs(out, exist_ok=True)

def layer(entries, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, arg in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_000_000
            ti.type = kind
            data = None
            if kind == tarfile.REGTYPE:
                data = arg
                ti.size = len(arg)
                ti.mode = 0o4755 if name.endswith("su") else 0o644
            elif kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = arg
            elif kind == tarfile.DIRTYPE:
                ti.mode = 0o755
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

R, D, S, L, F = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE
seeds = {
    "basic": [("bin/", D, None), ("bin/busybox", R, b"\x7fELF"), ("bin/sh", S, "busybox"), ("bin/ls", L, "bin/busybox")],
    "whiteouts": [("etc/", D, None), ("etc/.wh.passwd", R, b""), ("var/.wh..wh..opq", R, b""), ("var/new", R, b"n")],
    "special": [("run/", D, None), ("run/pipe", F, None), ("bin/su", R, b"#!")],
    "replace": [("x", S, "/etc"), ("x", R, b"file"), ("y/", D, None), ("y", R, b"f"), ("z", R, b"f"), ("z/", D, None)],
    "long": [("a/" * 60 + "f", R, b"long"), ("l", S, "t/" * 70)],
}
for name, entries in seeds.items():
    tar = layer(entries)
    open(os.path.join(out, f"seed-{name}-tar"), "wb").write(b"\x00" + tar)
    open(os.path.join(out, f"seed-{name}-gz"), "wb").write(b"\x01" + gzip.compress(tar, mtime=0))
pax = layer([("p" * 120, R, b"pax"), ("d/", D, None)], fmt=tarfile.PAX_FORMAT)
open(os.path.join(out, "seed-pax-tar"), "wb").write(b"\x00" + pax)
print(f"wrote {len(os.listdir(out))} seeds to {out}")
