#!/usr/bin/env bash
# The test command. On a Debian 12 machine it first installs the system packages the tests need when they are missing,
# then runs exactly `dotnet test GrowLength.sln`; extra arguments go to dotnet test, e.g.
#   ./test.sh --filter FullyQualifiedName~PrometheusTests
set -euo pipefail
cd "$(dirname "$0")"

packages=()
patterns=()
effects=()
# require PACKAGE PATTERN EFFECT: PACKAGE counts as present when a file matches the glob PATTERN (a glob, so the check
# holds on any architecture or version, and a copy installed some other way counts too); EFFECT is what goes wrong
# without it, printed when it cannot be installed.
require() { packages+=("$1"); patterns+=("$2"); effects+=("$3"); }

require libtcmalloc-minimal4 '/usr/lib/*/libtcmalloc_minimal.so.4' "the program runs on glibc malloc instead (slower CPU training; the tests still pass)"
require fonts-dejavu-core '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf' "the plots of \`growlength compare\` carry no text"
require prometheus '/usr/bin/prometheus' "Cluster.Tests' PrometheusTests fail (they run /usr/bin/prometheus as their own child process)"
require postgresql '/usr/lib/postgresql/*/bin/initdb' "the PostgreSQL tests fail (they initdb and run their own server as a child process, as the postgres user when root)"

present() { compgen -G "$1" >/dev/null; }

missing=()
for i in "${!packages[@]}"; do
  if ! present "${patterns[$i]}"; then missing+=("$i"); fi
done

warn_missing() {
  local i="$1" why="$2"
  echo "warning: ${packages[$i]} is not installed ($why): ${effects[$i]}" >&2
}

if ((${#missing[@]} > 0)); then
  if ((EUID == 0)); then
    as_root() { "$@"; }
  elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    for i in "${missing[@]}"; do warn_missing "$i" "no apt-get on this machine; install it by hand"; done
  elif ! declare -F as_root >/dev/null; then
    for i in "${missing[@]}"; do warn_missing "$i" "not root and no sudo; run apt-get install ${packages[$i]} as root"; done
  else
    # Only the files are wanted: the tests start any server they need as their own child process, on their own port.
    # A policy-rc.d that denies every action keeps the packages' maintainer scripts from starting system services
    # (prometheus would otherwise hold port 9090, postgresql port 5432, on a machine with an init system). One that is
    # already there is kept. postgresql-common may still create its default cluster's files; the tests do not use it.
    policy=/usr/sbin/policy-rc.d
    own_policy=""
    if [ ! -e "$policy" ] && as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"; then
      own_policy=1
      trap 'as_root rm -f "$policy"' EXIT
    fi

    # Once, and only now that something is missing: a fresh machine has no package lists at all.
    as_root apt-get update -qq || echo "warning: apt-get update failed; trying the install with the package lists there are" >&2
    for i in "${missing[@]}"; do
      # One package at a time, so that one that cannot be installed costs only what depends on it.
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[$i]}" >/dev/null || true
      if ! present "${patterns[$i]}"; then warn_missing "$i" "apt-get install ${packages[$i]} failed"; fi
    done

    if [ -n "$own_policy" ]; then
      as_root rm -f "$policy"
      trap - EXIT
    fi
  fi
fi

exec dotnet test GrowLength.sln "$@"
