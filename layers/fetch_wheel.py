#!/usr/bin/env python3
"""Fetch one pinned PyPI wheel and extract some of its files: the logic behind the layers/ scripts.

    fetch_wheel.py --package onnxruntime --version 1.31.1 \
        --platform manylinux_2_28_x86_64 --python-version 3.11 \
        --wheel onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl \
        --sha256 5752bd50... --stamp layers/dist/.stamps/onnxruntime \
        onnxruntime/capi/libonnxruntime.so.1.31.1=layers/dist/lib/libonnxruntime.so

- The wheel is downloaded with the ordinary pip client (`pip download --no-deps
  --only-binary=:all:` for the given platform and Python version) into a private folder of the
  cache (`~/.cache/mvidarr/wheels`, or `$MVIDARR_WHEEL_CACHE`), checked against the pinned
  SHA-256 there, and only then renamed into the cache: the cache holds verified wheels only,
  even when several scripts run at once. A cached wheel is checked again before use; a
  mismatching one is deleted and the run fails.
- Each `MEMBER=DEST` is extracted to a temporary file beside DEST, checked against the wheel's
  own RECORD (the SHA-256 the wheel lists for that file), and renamed into place: readers never
  see a partial file.
- The stamp records the wheel's SHA-256 and the member -> destination list. When it matches and
  every destination exists, the run ends at once (no download, no hashing).

Only the Python standard library is used. Exit status 0 on success, 1 on failure, 2 on usage.
"""

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

CHUNK = 1 << 20


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class Failure(Exception):
    pass


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", required=True, help="PyPI name, e.g. onnxruntime")
    parser.add_argument("--version", required=True, help="exact version, e.g. 1.31.1")
    parser.add_argument("--platform", required=True,
                        help="pip platform tag, e.g. manylinux_2_28_x86_64 or any")
    parser.add_argument("--python-version", default="3.11",
                        help="the Python version pip selects wheels for (default 3.11)")
    parser.add_argument("--wheel", required=True, help="the wheel's file name pip produces")
    parser.add_argument("--sha256", required=True, help="the wheel's pinned SHA-256")
    parser.add_argument("--stamp", required=True,
                        help="file recording what was extracted (makes re-runs instant)")
    parser.add_argument("--mode", default="644", help="octal mode of extracted files")
    parser.add_argument("--label", default="fetch-wheel", help="prefix of messages")
    parser.add_argument("members", nargs="+", metavar="MEMBER=DEST",
                        help="a file inside the wheel and where to put it")
    args = parser.parse_args(argv)
    pairs = []
    for item in args.members:
        member, sep, dest = item.partition("=")
        if not sep or not member or not dest:
            parser.error(f"expected MEMBER=DEST, got {item!r}")
        pairs.append((member, os.path.abspath(dest)))
    args.pairs = pairs
    args.mode = int(args.mode, 8)
    args.sha256 = args.sha256.lower()
    return args


def stamp_text(args):
    lines = [args.sha256, f"{args.package}=={args.version} {args.wheel} mode {args.mode:o}"]
    lines += [f"{member} -> {dest}" for member, dest in args.pairs]
    return "\n".join(lines) + "\n"


def up_to_date(args):
    try:
        with open(args.stamp, encoding="utf-8") as f:
            recorded = f.read()
    except OSError:
        return False
    return recorded == stamp_text(args) and all(os.path.isfile(d) for _, d in args.pairs)


def mismatch(what, expected, got):
    return Failure(f"SHA-256 MISMATCH for {what}\n  expected: {expected}\n  got:      {got}")


def download(args, cache):
    """Downloads the wheel into a private folder of the cache, verifies it, renames it in."""
    os.makedirs(cache, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".download-", dir=cache)
    try:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--platform", args.platform,
            "--python-version", args.python_version, f"{args.package}=={args.version}",
            "-d", scratch,
        ]
        result = subprocess.run(command, stdout=sys.stderr)
        if result.returncode != 0:
            raise Failure(f"pip download {args.package}=={args.version} failed "
                          f"(exit {result.returncode})")
        fetched = os.path.join(scratch, args.wheel)
        if not os.path.isfile(fetched):
            got = ", ".join(sorted(os.listdir(scratch))) or "nothing"
            raise Failure(f"pip did not produce {args.wheel} (it produced {got})")
        got_sha = sha256_of(fetched)
        if got_sha != args.sha256:
            raise mismatch(f"downloaded {args.wheel} (not kept)", args.sha256, got_sha)
        final = os.path.join(cache, args.wheel)
        os.replace(fetched, final)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cached_or_download(args, cache):
    wheel = os.path.join(cache, args.wheel)
    if os.path.isfile(wheel):
        got_sha = sha256_of(wheel)
        if got_sha != args.sha256:
            try:
                os.remove(wheel)
            except FileNotFoundError:
                pass
            raise mismatch(f"cached {wheel} (bad file deleted; run again to download)",
                           args.sha256, got_sha)
        return wheel, "verified cached"
    return download(args, cache), "downloaded and verified"


def record_hashes(zf):
    """The wheel's own list of its files' SHA-256 (RECORD), as hex digests by path."""
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
    hashes = {}
    for name in records:
        for line in zf.read(name).decode("utf-8").splitlines():
            parts = line.rsplit(",", 2)
            if len(parts) == 3 and parts[1].startswith("sha256="):
                raw = parts[1][len("sha256="):]
                raw += "=" * (-len(raw) % 4)
                hashes[parts[0]] = base64.urlsafe_b64decode(raw).hex()
    return hashes


def extract(args, wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        hashes = record_hashes(zf)
        for member, dest in args.pairs:
            if member not in names:
                raise Failure(f"{args.wheel} has no {member}")
            folder = os.path.dirname(dest)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest) + ".", dir=folder)
            try:
                digest = hashlib.sha256()
                with zf.open(member) as src, os.fdopen(fd, "wb") as dst:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        digest.update(block)
                        dst.write(block)
                expected = hashes.get(member)
                if expected is not None and digest.hexdigest() != expected:
                    raise mismatch(f"{member} against the wheel's RECORD", expected,
                                   digest.hexdigest())
                os.chmod(tmp, args.mode)
                os.replace(tmp, dest)
            except BaseException:
                try:
                    os.remove(tmp)
                except FileNotFoundError:
                    pass
                raise


def write_stamp(args):
    folder = os.path.dirname(os.path.abspath(args.stamp))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stamp.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(stamp_text(args))
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.stamp)


def shown(path):
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def main(argv):
    args = parse_args(argv)
    what = f"{args.package} {args.version}"
    if up_to_date(args):
        print(f"{args.label}: {what} already up to date ({len(args.pairs)} files)")
        return 0
    cache = os.environ.get("MVIDARR_WHEEL_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "mvidarr", "wheels")
    try:
        wheel, how = cached_or_download(args, cache)
        extract(args, wheel)
        write_stamp(args)
    except Failure as e:
        print(f"{args.label}: {e}", file=sys.stderr)
        return 1
    print(f"{args.label}: {how} {args.wheel}, extracted "
          + ", ".join(f"{m} -> {shown(d)}" for m, d in args.pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
