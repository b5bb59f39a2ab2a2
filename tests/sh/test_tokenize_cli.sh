#!/usr/bin/env bash
# `lpo tokenize DIR` against Hugging Face: the golden texts (JSON strings, cut out of the golden
# files with sed, not with lpo) are piped through and the printed id arrays diffed with the
# golden ids; bad lines fail with the line number and a non-zero exit.
set -u
LPO=${1:-build/lpo}
SHARED=${LPO_SHARED:-../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
check() { if [ "$2" = "$3" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: expected [$3] got [$2]"; fi; }

# golden line: {"text":"...","ids":[...],...}: the JSON string and the array, verbatim
golden_diff() {  # name dir golden
  sed -E 's/^\{"text":("([^"\\]|\\.)*"),"ids":(\[[^]]*\]).*$/\1/' "$3" > "$tmp/in"
  sed -E 's/^\{"text":("([^"\\]|\\.)*"),"ids":(\[[^]]*\]).*$/\3/' "$3" > "$tmp/want"
  "$LPO" tokenize "$2" < "$tmp/in" > "$tmp/got" 2> "$tmp/err"
  check "$1 exit" "$?" "0"
  check "$1 lines" "$(wc -l < "$tmp/got")" "$(wc -l < "$3")"
  if ! diff -q "$tmp/want" "$tmp/got" > /dev/null; then
    fail=$((fail+1)); echo "FAIL $1: ids differ:"; diff "$tmp/want" "$tmp/got" | head -5
  else pass=$((pass+1)); fi
}

golden_diff "sentencepiece fixture" tests/fixtures/tokenizers/sp tests/fixtures/tokenizers/sp/golden.jsonl
golden_diff "byte-level fixture" tests/fixtures/tokenizers/bl tests/fixtures/tokenizers/bl/golden.jsonl
golden_diff "byte tokenizer as HF file" tests/fixtures/tokenizers/byte tests/fixtures/tokenizers/byte/golden.jsonl
QWEN="$SHARED/data/tokenizers/qwen3"
if [ -f "$QWEN/golden.jsonl" ]; then
  golden_diff "qwen3 golden" "$QWEN" "$QWEN/golden.jsonl"
  check "qwen3 golden count" "$(wc -l < "$tmp/got" | tr -d ' ')" "361"
  DIR="$QWEN"
else
  echo "note: $QWEN absent, Qwen3 golden skipped"
  DIR=tests/fixtures/tokenizers/bl
fi

# errors name the line and exit non-zero
out=$(printf '"ok"\n{"x": 1}\n"never reached"\n' | "$LPO" tokenize "$DIR" 2>&1); rc=$?
check "non-string line exits 1" "$rc" "1"
check "non-string line named" "$(echo "$out" | grep -c 'stdin:2: expected a JSON string')" "1"
check "lines before the bad one are printed" "$(echo "$out" | grep -c '^\[')" "1"
out=$(printf '"unterminated\n' | "$LPO" tokenize "$DIR" 2>&1); rc=$?
check "bad JSON exits 1" "$rc" "1"
check "bad JSON named" "$(echo "$out" | grep -c 'stdin:1: unterminated string')" "1"
out=$(printf '"a"\n"\xc3\x28"\n' | "$LPO" tokenize "$DIR" 2>&1); rc=$?
check "invalid UTF-8 exits 1" "$rc" "1"
check "invalid UTF-8 named" "$(echo "$out" | grep -c 'stdin:2: encode: text is not valid UTF-8 at byte 0')" "1"
out=$("$LPO" tokenize /nonexistent/dir < /dev/null 2>&1); rc=$?
check "missing dir exits 1" "$rc" "1"
check "missing dir named" "$(echo "$out" | grep -c '/nonexistent/dir')" "1"
"$LPO" tokenize < /dev/null > /dev/null 2>&1; rc=$?
check "no DIR is a usage error" "$rc" "2"

# --plain keeps special tokens as text; --decode goes back; the byte tokenizer
plain=$(printf '"<|im_end|>"\n' | "$LPO" tokenize byte --plain)
check "byte --plain" "$plain" "[60,124,105,109,95,101,110,100,124,62]"
special=$(printf '"<|im_end|>x"\n' | "$LPO" tokenize byte)
check "byte special" "$special" "[260,120]"
back=$(printf '[260,120]\n' | "$LPO" tokenize byte --decode)
check "byte --decode" "$back" '"<|im_end|>x"'
echo "test_tokenize_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
