#!/usr/bin/env bash
# fetch.sh [DIR] - download a corpus of real, versioned release artifacts.
#
# Each release series goes into its own subdirectory of DIR (default: ./corpus):
#
#   pip-wheels/         pip           py3-none-any wheels            (PyPI)
#   numpy-wheels/       numpy         cp311 manylinux2014_x86_64     (PyPI)
#   setuptools-sdists/  setuptools    .tar.gz sdists                 (PyPI)
#   django-sdists/      Django        .tar.gz sdists, 10.6 MB each:  (PyPI)
#                                     a large tar with images and
#                                     compiled translations
#   prettier-npm/       prettier      npm tarballs (.tgz)            (npm registry)
#
# Files keep their original upstream names, so `ls -v DIR/SERIES` lists them
# in version order. Every file is checked against the digest published by the
# registry (PyPI: sha256; npm: sha512 integrity, else sha1 shasum). Files that
# are already present and verify are skipped, so re-running is cheap and safe.
#
# Artifacts are resolved through the registries' JSON metadata and downloaded
# directly (no `pip download` / `npm pack`): no builds are triggered and local
# pip settings such as find-links / extra-index-url cannot substitute files.
#
# Environment overrides:
#   PYPI_JSON_URL  base of the PyPI JSON API   (default https://pypi.org/pypi)
#   NPM_REGISTRY   npm registry base URL       (default: `npm config get registry`,
#                                               else https://registry.npmjs.org)
set -euo pipefail

# ---------------------------------------------------------------------------
# Pinned versions - edit these lists. Keep each list consecutive, oldest first.
# ---------------------------------------------------------------------------
PIP_VERSIONS=(23.2 23.2.1 23.3 23.3.1 23.3.2 24.0 24.1 24.1.1)
NUMPY_VERSIONS=(1.26.2 1.26.3 1.26.4 2.0.0 2.0.1 2.0.2)
SETUPTOOLS_VERSIONS=(68.2.0 68.2.1 68.2.2 69.0.0 69.0.1 69.0.2 69.0.3 69.1.0)
DJANGO_VERSIONS=(5.0.1 5.0.2 5.0.3 5.0.4)
PRETTIER_VERSIONS=(3.3.0 3.3.1 3.3.2 3.3.3 3.4.0 3.4.1 3.4.2 3.5.0)

# Which file of each PyPI release to take: "packagetype:filename-glob".
PIP_SELECT='bdist_wheel:pip-*-py3-none-any.whl'
NUMPY_SELECT='bdist_wheel:numpy-*-cp311-cp311-*manylinux2014_x86_64*.whl'
SETUPTOOLS_SELECT='sdist:setuptools-*.tar.gz'
DJANGO_SELECT='sdist:[Dd]jango-*.tar.gz'
# ---------------------------------------------------------------------------

PROG=fetch.sh

die() { echo "$PROG: error: $*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) echo "usage: $PROG [DIR]   (default DIR: ./corpus)"; exit 0 ;;
  -*) die "unknown option '$1' (usage: $PROG [DIR])" ;;
esac
[ $# -le 1 ] || die "too many arguments (usage: $PROG [DIR])"

DIR=${1:-./corpus}
PYPI_JSON_URL=${PYPI_JSON_URL:-https://pypi.org/pypi}
if [ -z "${NPM_REGISTRY:-}" ]; then
  NPM_REGISTRY=$(npm config get registry 2>/dev/null || true)
  case "$NPM_REGISTRY" in http://*|https://*) ;; *) NPM_REGISTRY=https://registry.npmjs.org ;; esac
fi

command -v python3 >/dev/null 2>&1 || die "python3 not found (needed to download and verify)"
mkdir -p "$DIR" || die "cannot create directory '$DIR'"

# fetch_series SERIES KIND PACKAGE SELECT VERSION...
#   KIND is "pypi" or "npm"; SELECT is "packagetype:glob" for pypi, ignored for npm.
fetch_series() {
  local series=$1 kind=$2 package=$3 select=$4
  shift 4
  mkdir -p "$DIR/$series" || die "cannot create directory '$DIR/$series'"
  python3 - "$DIR" "$series" "$kind" "$package" "$select" "$@" <<'PY'
import base64, fnmatch, hashlib, json, os, sys, time
import urllib.error, urllib.parse, urllib.request

root, series, kind, package, select, *versions = sys.argv[1:]
dest_dir = os.path.join(root, series)
PYPI = os.environ["PYPI_JSON_URL"].rstrip("/")
NPM = os.environ["NPM_REGISTRY"].rstrip("/")
UA = {"User-Agent": "deltaglider-corpus-fetch/1"}
TIMEOUT, ATTEMPTS = 60, 3

class Fail(Exception):
    pass

def open_url(url, accept=None):
    headers = dict(UA)
    if accept:
        headers["Accept"] = accept
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == ATTEMPTS:
                raise Fail(f"HTTP {e.code} for {url}")
        except (urllib.error.URLError, OSError) as e:
            if attempt == ATTEMPTS:
                raise Fail(f"cannot fetch {url}: {getattr(e, 'reason', e)}")
        time.sleep(2 * attempt)

def get_json(url, accept=None):
    with open_url(url, accept) as r:
        try:
            return json.load(r)
        except ValueError as e:
            raise Fail(f"bad JSON from {url}: {e}")

def resolve_pypi():
    """-> list of (version, filename, url, size, algo, expected_digest_bytes)"""
    url = f"{PYPI}/{urllib.parse.quote(package)}/json"
    meta = get_json(url)
    ptype, glob = select.split(":", 1)
    out = []
    for v in versions:
        files = (meta.get("releases") or {}).get(v)
        if files is None:
            raise Fail(f"{package} {v}: no such release on PyPI")
        hits = [f for f in files if f.get("packagetype") == ptype and fnmatch.fnmatch(f["filename"], glob)]
        if len(hits) != 1:
            raise Fail(f"{package} {v}: expected 1 file matching {ptype}:{glob}, found {len(hits)}")
        f = hits[0]
        sha = (f.get("digests") or {}).get("sha256")
        if not sha:
            raise Fail(f"{package} {v}: PyPI metadata has no sha256 for {f['filename']}")
        out.append((v, f["filename"], urllib.parse.urljoin(url, f["url"]), f.get("size"),
                    "sha256", bytes.fromhex(sha)))
    return out

def resolve_npm():
    url = f"{NPM}/{urllib.parse.quote(package, safe='@')}"
    meta = get_json(url, accept="application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8")
    out = []
    for v in versions:
        m = (meta.get("versions") or {}).get(v)
        if m is None:
            raise Fail(f"{package} {v}: no such version on the npm registry")
        dist = m.get("dist") or {}
        tarball = dist.get("tarball")
        if not tarball:
            raise Fail(f"{package} {v}: npm metadata has no dist.tarball")
        algo = digest = None
        rank = {"sha256": 1, "sha384": 2, "sha512": 3}
        for item in (dist.get("integrity") or "").split():
            a, _, b64 = item.partition("-")
            if a in rank and (algo is None or rank[a] > rank[algo]):
                algo, digest = a, base64.b64decode(b64.split("?")[0])
        if algo is None and dist.get("shasum"):
            algo, digest = "sha1", bytes.fromhex(dist["shasum"])
        if algo is None:
            raise Fail(f"{package} {v}: npm metadata has no integrity/shasum")
        name = os.path.basename(urllib.parse.urlparse(tarball).path)
        out.append((v, name, urllib.parse.urljoin(url, tarball), None, algo, digest))
    return out

def file_digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()

def download(url, path, algo, expected, size):
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.part.{os.getpid()}")
    try:
        for attempt in range(1, ATTEMPTS + 1):
            h, n = hashlib.new(algo), 0
            try:
                with open_url(url) as r, open(tmp, "wb") as out:
                    for chunk in iter(lambda: r.read(1 << 20), b""):
                        out.write(chunk)
                        h.update(chunk)
                        n += len(chunk)
                break
            except (OSError, urllib.error.URLError) as e:   # connection dropped mid-body
                if attempt == ATTEMPTS:
                    raise Fail(f"download of {url} failed: {e}")
                time.sleep(2 * attempt)
        if size is not None and n != size:
            raise Fail(f"{os.path.basename(path)}: got {n} bytes, registry says {size}")
        if h.digest() != expected:
            raise Fail(f"{os.path.basename(path)}: {algo} mismatch after download from {url}")
        os.replace(tmp, path)
        return n
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

try:
    entries = resolve_pypi() if kind == "pypi" else resolve_npm()
    for v, name, url, size, algo, expected in entries:
        path = os.path.join(dest_dir, name)
        rel = f"{series}/{name}"
        if os.path.isfile(path):
            if (size is None or os.path.getsize(path) == size) and file_digest(path, algo) == expected:
                print(f"cached      {os.path.getsize(path):>10} bytes  {package + ' ' + v:<18} {rel}", flush=True)
                continue
            print(f"fetch.sh: note: {rel} fails {algo} check, re-downloading",
                  file=sys.stderr, flush=True)
        n = download(url, path, algo, expected, size)
        print(f"downloaded  {n:>10} bytes  {package + ' ' + v:<18} {rel}", flush=True)
    wanted = {e[1] for e in entries}
    extras = sorted(f for f in os.listdir(dest_dir) if f not in wanted and not f.startswith("."))
    if extras:
        print(f"fetch.sh: warning: {series}/ has {len(extras)} file(s) not in the version list"
              f" (left in place): {' '.join(extras)}", file=sys.stderr, flush=True)
except Fail as e:
    print(f"fetch.sh: error: {series}: {e}", file=sys.stderr)
    sys.exit(1)
except KeyboardInterrupt:
    sys.exit(130)
except Exception as e:  # anything unexpected: still one line
    print(f"fetch.sh: error: {series}: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
PY
}

export PYPI_JSON_URL NPM_REGISTRY

start=$SECONDS
fetch_series pip-wheels        pypi pip        "$PIP_SELECT"        "${PIP_VERSIONS[@]}"        || exit 1
fetch_series numpy-wheels      pypi numpy      "$NUMPY_SELECT"      "${NUMPY_VERSIONS[@]}"      || exit 1
fetch_series setuptools-sdists pypi setuptools "$SETUPTOOLS_SELECT" "${SETUPTOOLS_VERSIONS[@]}" || exit 1
fetch_series django-sdists     pypi Django     "$DJANGO_SELECT"     "${DJANGO_VERSIONS[@]}"     || exit 1
fetch_series prettier-npm      npm  prettier   -                    "${PRETTIER_VERSIONS[@]}"   || exit 1

count=0 total=0
for s in pip-wheels numpy-wheels setuptools-sdists django-sdists prettier-npm; do
  for f in "$DIR/$s"/*; do
    [ -f "$f" ] || continue
    count=$((count + 1)); total=$((total + $(wc -c <"$f")))
  done
done
echo "done: $count files, $total bytes in $DIR ($((SECONDS - start))s)"
