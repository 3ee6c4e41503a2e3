#!/usr/bin/env python3
"""Checks that built `bootstrap` binaries carry aws-lc without its CPU-jitter entropy source.

usage: scripts/check-entropy-build.py ARTIFACT...

Each ARTIFACT is an executable or a zip holding one (bootstrap.zip). Not a timing check: it
reads the bytes the build produced, so it holds for any build path and any architecture
(x86_64 `cargo build`, the arm64 `cargo lambda build` of `make build` and of `sam build`).

.cargo/config.toml builds aws-lc with AWS_LC_SYS_NO_JITTER_ENTROPY=1
(docs/decisions/0001-randomness-and-tls-start-up.md). A build path that misses that file (a cargo run from
another folder, a builder that copies the sources elsewhere, a variable that overrides it)
links aws-lc's jitterentropy library back in, and with it the ~30 ms of CPU timing at the
first TLS handshake. That library always brings its health-test cutoff tables: read-only
arrays of 32-bit integers, compiled at -O0 as jitterentropy requires, so they sit in the
binary byte for byte (little-endian on both Lambda architectures). Finding either table
means the setting was lost.

So that "not found" means something, each artifact must also hold a string of aws-lc's
own C code that every build has (the warning of its kernel entropy source, the one that
seeds it now): an artifact without it is not an aws-lc build, or not read right.

Exit status 0 when every artifact passes, 1 when one fails, 2 on bad usage.
"""

import struct
import sys
import zipfile

# third_party/jitterentropy/jitterentropy-library/src/jitterentropy-health.c
JITTER_TABLES = {
    "jent_lag_global_cutoff_lookup": struct.pack(
        "<20I",
        66443, 93504, 104761, 110875, 114707, 117330, 119237, 120686, 121823, 122739,
        123493, 124124, 124660, 125120, 125520, 125871, 126181, 126457, 126704, 126926,
    ),
    "jent_apt_cutoff_lookup": struct.pack(
        "<15I", 325, 422, 459, 477, 488, 494, 499, 502, 505, 507, 508, 509, 510, 511, 512
    ),
}
# crypto/rand_extra/urandom.c: aws-lc's kernel (getrandom, /dev/urandom) entropy source.
AWS_LC_MARKER = b"RNDGETENTCNT on /dev/urandom"


def read_artifact(path):
    """The executable's bytes: the file itself, or the one `bootstrap` in a zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "bootstrap" not in names:
                raise ValueError(f"no 'bootstrap' in the zip (entries: {names})")
            return archive.read("bootstrap")
    with open(path, "rb") as f:
        return f.read()


def problems_of(data):
    problems = []
    if not data.startswith(b"\x7fELF"):
        problems.append("not an ELF executable")
    if AWS_LC_MARKER not in data:
        problems.append(
            "aws-lc's kernel entropy source is not in it: not an aws-lc build, so this check "
            "cannot tell (update it if the TLS stack changed on purpose)"
        )
    for name, table in JITTER_TABLES.items():
        if table in data:
            problems.append(
                f"aws-lc's jitter entropy source is linked in (found {name}): this build "
                "did not see AWS_LC_SYS_NO_JITTER_ENTROPY=1 from .cargo/config.toml"
            )
    return problems


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        try:
            problems = problems_of(read_artifact(path))
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            problems = [f"cannot read it: {err}"]
        if problems:
            failed = True
            for problem in problems:
                print(f"check-entropy-build: FAIL {path}: {problem}", file=sys.stderr)
        else:
            print(f"check-entropy-build: ok {path}: aws-lc without the jitter entropy source")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
