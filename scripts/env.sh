# Sourced by the scripts: puts the venv and PostgreSQL's server binaries on PATH.
pg_dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$pg_dir" ]; then PATH="$PATH:$pg_dir"; fi
PATH="$PWD/.venv/bin:$PATH:/usr/sbin:/sbin"
export PATH
