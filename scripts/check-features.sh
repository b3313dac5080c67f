#!/usr/bin/env bash
# Checks eventchains-middleware with no features, with each feature alone and
# with all of them, so that no feature silently depends on another (and no
# combination leaves unused code behind: any warning fails the check).
# Called from .ci/run.
set -euo pipefail

cd "$(dirname "$0")/.."

features=(logging timing metrics retry rate_limit circuit_breaker concurrency_limit timeout chaos full async)

check() {
    echo "check-features: cargo check -p eventchains-middleware $*"
    local output
    output=$(cargo check -p eventchains-middleware "$@" --color never 2>&1) || {
        echo "$output"
        exit 1
    }
    if grep -q '^warning' <<<"$output"; then
        echo "$output"
        echo "check-features: warnings with $*" >&2
        exit 1
    fi
}

check --no-default-features
for feature in "${features[@]}"; do
    check --no-default-features --features "$feature"
done
# The async forms with each middleware alone.
for feature in "${features[@]}"; do
    [ "$feature" = async ] || check --no-default-features --features "async,$feature"
done
check --all-features
echo "check-features: ok"
