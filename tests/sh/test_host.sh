#!/usr/bin/env bash
# The host: --version/--help, exit codes, tracebacks, lua/ found from any directory and
# from an installed prefix, unknown commands, recipe syntax errors naming file:line.
set -u
LPO=$(cd "$(dirname "${1:-build/lpo}")" && pwd)/$(basename "${1:-build/lpo}")
ROOT=$(pwd)
fail=0; pass=0
check() { if [ "$2" = "$3" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: expected [$3] got [$2]"; fi; }
has() { if printf '%s' "$2" | grep -qF -- "$3"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: [$2] lacks [$3]"; fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

has "version" "$("$LPO" --version)" "lpo 0."
has "help" "$("$LPO" --help)" "lpo run FILE.lua"
out=$(cd "$tmp" && "$LPO" -e 'print(require("lpo.json").encode({1,2}))'); check "runs from another directory" "$out" "[1,2]"
out=$("$LPO" -e 'print(select("#", ...), ...)' a b); check "-e passes args" "$out" $'2\ta\tb'
printf 'print(arg[0] ~= nil, arg[1], arg[2])\n' > "$tmp/args.lua"
out=$("$LPO" run "$tmp/args.lua" x y); check "run passes args" "$out" $'true\tx\ty'
out=$("$LPO" "$tmp/args.lua" z); check "FILE.lua shorthand" "$out" $'true\tz\tnil'
printf 'local function f()\n  error("deep failure")\nend\nf()\n' > "$tmp/err.lua"
out=$("$LPO" run "$tmp/err.lua" 2>&1); rc=$?
check "runtime error exit" "$rc" "1"; has "traceback names file:line" "$out" "err.lua:2: deep failure"; has "traceback" "$out" "stack traceback"
printf 'local x = = 2\n' > "$tmp/syntax.lua"
out=$("$LPO" run "$tmp/syntax.lua" 2>&1); rc=$?
check "syntax error exit" "$rc" "1"; has "syntax error names file:line" "$out" "syntax.lua:1:"
out=$("$LPO" run "$tmp/missing.lua" 2>&1); rc=$?
check "missing file exit" "$rc" "1"; has "missing file" "$out" "cannot open"
out=$("$LPO" frobnicate 2>&1); rc=$?
check "unknown command exit" "$rc" "1"; has "unknown command" "$out" "unknown command 'frobnicate'"
out=$("$LPO" bench nosuch 2>&1); rc=$?
check "unknown bench exit" "$rc" "2"
# Installed layout: prefix/bin/lpo finds prefix/share/lpo/lua.
mkdir -p "$tmp/prefix/bin" "$tmp/prefix/share/lpo"
cp "$LPO" "$tmp/prefix/bin/lpo"; cp -r "$ROOT/lua" "$ROOT/engine/include" "$tmp/prefix/share/lpo/"
out=$(cd / && LPO_ROOT= "$tmp/prefix/bin/lpo" -e 'print(LPO_ROOT)'); check "installed prefix" "$out" "$tmp/prefix/share/lpo"
out=$(cd / && "$tmp/prefix/bin/lpo" -e 'local t = require "lpo.tensor"; print(t.ones({2}):sum():item())'); check "installed FFI headers" "$out" "2"
echo "test_host: $pass passed, $fail failed"
[ $fail -eq 0 ]
