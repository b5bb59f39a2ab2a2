#!/usr/bin/env bash
# The issue's acceptance command: a seeded randn prints a 2x3 tensor, identical on every
# run (separate processes); bad input exits non-zero with a clear message, never a crash.
set -u
LPO=${1:-build/lpo}
fail=0; pass=0
check() { if [ "$2" = "$3" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: expected [$3] got [$2]"; fi; }
has() { if printf '%s' "$2" | grep -qF -- "$3"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: [$2] lacks [$3]"; fi; }

cmd='local t=require"lpo.tensor"; print(t.randn({2,3},{seed=1}))'
out1=$("$LPO" -e "$cmd" 2>&1); rc1=$?
out2=$("$LPO" -e "$cmd" 2>&1); rc2=$?
check "randn exit status" "$rc1$rc2" "00"
check "randn identical across runs" "$out1" "$out2"
check "randn prints 2 rows" "$(printf '%s\n' "$out1" | wc -l)" "2"
has "randn shape suffix" "$out1" "dtype=f32, shape={2,3})"
# 2 rows x 3 numbers with 4 decimals, torch layout
check "randn layout" "$(printf '%s\n' "$out1" | sed -E 's/ *-?[0-9]+\.[0-9]{4}/ N/g; s/ +/ /g')" \
  "$(printf 'tensor([[ N, N, N],\n [ N, N, N]], dtype=f32, shape={2,3})')"
other=$("$LPO" -e 'local t=require"lpo.tensor"; print(t.randn({2,3},{seed=2}))' 2>&1)
[ "$other" != "$out1" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: seed 2 printed the same values as seed 1"; }

run_bad() {  # name, code, expected message
  local out rc
  out=$("$LPO" -e "$2" 2>&1); rc=$?
  check "$1: exit status" "$rc" "1"
  has "$1: message" "$out" "$3"
  if printf '%s' "$out" | grep -qE 'Segmentation|AddressSanitizer|internal error|core dumped'; then
    fail=$((fail+1)); echo "FAIL $1: crashed: $out"
  fi
}
run_bad "shape mismatch" 'local t=require"lpo.tensor"; local x = t.ones(2,3) + t.ones(4)' \
  "(command line):1: add: shapes [2,3] and [4] cannot broadcast"
run_bad "index out of range" 'local t=require"lpo.tensor"; print(t.arange(3)[4])' \
  "index 4 out of range for dim 1 of size 3"
run_bad "wrong dtype" 'local t=require"lpo.tensor"; print(t.zeros(2, {dtype="f64"}))' \
  "zeros: unknown dtype 'f64'"
run_bad "matmul mismatch" 'local t=require"lpo.tensor"; print(t.ones(2,3):matmul(t.ones(2,3)))' \
  "matmul: shapes [2,3] and [2,3] are not aligned (inner sizes 3 and 2 differ)"
run_bad "use after free" 'local t=require"lpo.tensor"; local x = t.ones(2); x:free(); print(x:sum())' \
  "sum: tensor was freed"

# the REPL: help on a tensor function, and a tensor auto-prints
out=$(printf 'T = require "lpo.tensor"\nhelp(T.randn)\nT.arange(3)\n' | "$LPO" 2>&1)
check "repl help(T.randn)" "$(printf '%s\n' "$out" | head -1)" "lpo.tensor.randn(shape [, {seed=, dtype=}]) -> tensor"
check "repl auto-print" "$(printf '%s\n' "$out" | tail -1)" "tensor([0, 1, 2], dtype=i64, shape={3})"

echo "test_tensor_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
