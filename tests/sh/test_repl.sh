#!/usr/bin/env bash
# The REPL driven through stdin: multi-line input, auto-print, =expr, errors fail the run.
set -u
LPO=${1:-build/lpo}
fail=0; pass=0
check() { if [ "$2" = "$3" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: expected [$3] got [$2]"; fi; }

out=$(printf 'local_x = 20\nfunction twice(a)\n  return a * 2\nend\ntwice(local_x) + 2\n=local_x\n{1, b = {c = "d"}}\n' | "$LPO" 2>&1)
check "multi-line + auto-print" "$out" $'42\n20\n{ 1, b = { c = "d" } }'

out=$(printf 'for i = 1, 3 do\n  io.write(i, " ")\nend\nprint()\n' | "$LPO" 2>&1)
check "multi-line loop" "$out" "1 2 3 "

printf 'error("kaput")\n' | "$LPO" >/dev/null 2>&1; rc=$?
check "error exits non-zero" "$rc" "1"
out=$(printf 'x = = 1\n' | "$LPO" 2>&1); rc=$?
check "syntax error message" "$(echo "$out" | grep -c "unexpected symbol")" "1"
check "syntax error exit" "$rc" "1"
out=$(printf 'help(require "lpo.json".encode)\n' | "$LPO" 2>&1)
check "help on a documented function" "$(echo "$out" | head -1)" "lpo.json.encode(value) -> string"
out=$("$LPO" -e 'local r = require "lpo.repl"; for _, c in ipairs(r.complete("lpo.js")) do print(c) end; for _, c in ipairs(r.complete("string.for")) do print(c) end')
check "tab completion" "$out" $'lpo.json\nstring.format'
echo "test_repl: $pass passed, $fail failed"
[ $fail -eq 0 ]
