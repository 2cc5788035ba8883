#!/usr/bin/env bash
# run.sh - install what is missing, build with ASan+UBSan, run every test.
#
#   bash tests/run.sh [CTEST ARGS...]     e.g. -R e2e.t0 or -L unit
#
# Needs ../shared beside the repository for fixtures.  Benchmarks are not
# run here (see tests/bench/ and BENCHMARKS.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash deploy/install-deps.sh deploy/packages.txt tests/packages.txt
(cd tests/tools && npm ci --no-audit --no-fund --loglevel=error)

[ -d ../shared/fixtures ] || { echo "run.sh: ../shared/fixtures is missing" >&2; exit 2; }
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DCIFEED_SANITIZE=ON \
	-DSHARED_DIR="$(cd ../shared && pwd)" >/dev/null
cmake --build build-test -j"$(nproc)"
cd build-test
ctest --output-on-failure -j"$(nproc)" "$@"
