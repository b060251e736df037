#!/usr/bin/env bash
# The project's single test command.
#
#   scripts/test.sh [cargo test args...]
#
# Installs what is missing (scripts/services.sh install), starts the real test servers
# (3 standalone Redis, a 3-master Redis Cluster, DynamoDB Local; see scripts/services.sh),
# sources their env file, runs `cargo test --workspace --all-features "$@"`, and always
# stops the servers afterwards (also on failure or interruption). Exits with cargo's code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/scripts/services.sh"
cd "$ROOT"

# CI-friendly output: no colours or progress bars when not on a terminal (or under CI),
# full backtraces on test panics.
if [[ -n ${CI:-} || ! -t 1 ]]; then
  export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
  export CARGO_TERM_PROGRESS_WHEN="${CARGO_TERM_PROGRESS_WHEN:-never}"
  export NO_COLOR="${NO_COLOR:-1}"
  # A clean build gains nothing from incremental state; it only costs disk (gigabytes here).
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

started=0
# shellcheck disable=SC2317  # invoked by the traps below
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ $started -eq 1 ]]; then
    echo "test.sh: stopping services" >&2
    "$SERVICES" stop || echo "test.sh: warning: services.sh stop failed" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "test.sh: installing services (if missing)" >&2
"$SERVICES" install

echo "test.sh: starting services" >&2
started=1
"$SERVICES" start

env_file=$("$SERVICES" env)
# shellcheck source=/dev/null
source "$env_file"

echo "test.sh: cargo test --workspace --all-features $*" >&2
set +e
cargo test --workspace --all-features "$@"
rc=$?
set -e
echo "test.sh: cargo test exited with $rc" >&2
exit "$rc"
