#!/usr/bin/env bash
# Proves the editor definitions of `eventchains types` with a real analyzer:
# installs emmylua_check (pinned, --locked) if it is missing, into the cargo
# bin directory that caches it between runs ($CARGO_HOME/bin, ~/.cargo/bin by
# default), then runs crates/eventchains-cli/tests/lua_types.rs with the
# analyzer required: zero diagnostics on examples/scripts and the docs' chain
# scripts, one on each deliberate mistake of crates/eventchains-cli/tests/lua_types/.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.25.1
BIN_DIR="${CARGO_HOME:-$HOME/.cargo}/bin"
ANALYZER="$BIN_DIR/emmylua_check"

if ! "$ANALYZER" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "== installing emmylua_check $VERSION into $BIN_DIR (once; later runs reuse it)"
  started=$(date +%s)
  cargo install emmylua_check --version "$VERSION" --locked
  echo "== emmylua_check installed in $(( $(date +%s) - started )) s"
fi
"$ANALYZER" --version

EMMYLUA_CHECK="$ANALYZER" EVENTCHAINS_REQUIRE_LUA_ANALYZER=1 \
  cargo test -p eventchains-cli --locked --test lua_types -- --nocapture
