#!/usr/bin/env bash
# Installs the Debian 12 packages medtwin builds and tests with. Idempotent: packages
# already present are not touched, and apt is not called at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libsundials-dev      # CVODES: the ODE integrator
  libeigen3-dev        # linear algebra (matrix exponential checks, covariance factors)
  libcli11-dev         # command-line parsing
  libsbml5-dev         # SBML import (libSBML)
  libnlopt-dev         # optimisation (MAP estimation, dose search)
  nlohmann-json3-dev   # JSON: CLI output, snapshots, the FHIR layer (src/fhir)
  libsimdjson-dev      # compared with nlohmann-json in bench/fhir_bench.cc only (BENCHMARKS.md)
  libsqlite3-dev       # embedded store (SQLite)
  libpq-dev postgresql # shared store (PostgreSQL client library; the server for its tests)
  libcpp-httplib-dev   # HTTP server (medtwin serve)
  libmicrohttpd-dev    # compared with cpp-httplib in bench/http_bench.cc only (BENCHMARKS.md)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev  # libFuzzer + ASan/UBSan for the fuzz target
  python3 python3-scipy python3-numpy  # reference solver for the benchmark comparison
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
