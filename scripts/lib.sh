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
  # initdb refuses to run as root; the embedded cluster then runs as the postgres user.
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  echo "== PostgreSQL $(pg_major) at $(pg_bindir); $(redis-server --version | cut -d' ' -f1-3)"
}
