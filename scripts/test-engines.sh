#!/usr/bin/env bash
# Runs the eventchains-lua test suite on each Lua engine CI covers:
# lua54 (the default) and luajit; set ENGINES to choose others, from
# lua54, lua55, luajit and luau (e.g. ENGINES="lua54 luajit lua55 luau").
# A first Luau build takes about two minutes (it compiles Luau's C++ sources).
# Each engine runs the whole suite with the crate's optional features
# (`metrics`, `watch`), as `cargo test --workspace` does for lua54.
# Usage: scripts/test-engines.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a engines <<< "${ENGINES:-lua54 luajit}"
for engine in "${engines[@]}"; do
  echo "==> eventchains-lua on ${engine}"
  cargo test -p eventchains-lua --no-default-features --features "${engine},metrics,watch" "$@"
done
echo "==> all engines passed: ${engines[*]}"
