#!/bin/sh
# The dets program: same sum on every backend, --verify, .npy output, errors.
set -u
dets="${top_builddir:-.}/examples/dets"
tmp="${TMPDIR:-/tmp}/parkit-dets-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

ref=$("$dets" --backend serial --count 2000 --n 7 | grep '^sum') || fail "serial run"
for b in openmp fork; do
  # fork may not be built (no memfd_create): skip it then
  "$dets" --backend "$b" --count 1 >/dev/null 2>&1 || { [ "$b" = fork ] && continue; }
  for w in 1 2 3; do
    out=$("$dets" --backend "$b" --workers "$w" --count 2000 --n 7 --verify) ||
      fail "$b with $w workers: $out"
    echo "$out" | grep -q '^verify: ok' || fail "$b $w: no verify line"
    [ "$(echo "$out" | grep '^sum')" = "$ref" ] || fail "$b $w: $out vs $ref"
  done
done
"$dets" --pk-backend=openmp --count 100 --n 20 --output "$tmp/d.npy" >/dev/null ||
  fail "--output"
[ -s "$tmp/d.npy" ] || fail "no .npy written"
"$dets" --count 10 --n 3 --backend nonesuch >/dev/null 2>"$tmp/err" && fail "bad backend accepted"
grep -q "nonesuch" "$tmp/err" || fail "bad backend: message does not name it"
"$dets" --count ten >/dev/null 2>&1 && fail "bad count accepted"
"$dets" --input "$tmp/d.npy" >/dev/null 2>"$tmp/err" && fail "1-D input accepted"
grep -q "det" "$tmp/err" || fail "1-D input: no message"
"$dets" --help | grep -q -- "--verify" || fail "--help"
# --pk-help: parkit's options, then the program stops without working.
out=$("$dets" --pk-help --count 10 --n 3) || fail "--pk-help: exit status"
echo "$out" | grep -q -- "--pk-isa" || fail "--pk-help: no options"
echo "$out" | grep -q '^sum' && fail "--pk-help: the program ran"
# parkit's options with a space, and a misspelt one refused with its name.
"$dets" --pk-backend serial --count 10 --n 3 | grep -q "backend serial" ||
  fail "--pk-backend serial (a space)"
"$dets" --pk-backnd=fork --count 10 2>"$tmp/err" && fail "--pk-backnd accepted"
grep -q -- "--pk-backnd=fork" "$tmp/err" || fail "--pk-backnd: not named"
PARKIT_WORKERS=abc "$dets" --count 10 2>"$tmp/err" && fail "PARKIT_WORKERS=abc"
grep -q "PARKIT_WORKERS=abc" "$tmp/err" || fail "PARKIT_WORKERS=abc: not named"
# An output folder that is not there: refused before any work.
"$dets" --count 50000 --n 40 --output "$tmp/none/d.npy" >"$tmp/out" \
  2>"$tmp/err" && fail "an output in a missing folder accepted"
grep -q "cannot write in $tmp/none" "$tmp/err" || fail "--output: no message"
grep -q "^sum" "$tmp/out" && fail "--output: computed before refusing"
# --workers as the library's: 0 is refused; more than the cores is said.
"$dets" --count 10 --workers 0 2>"$tmp/err" && fail "--workers 0 accepted"
grep -q "from 1 to 4096" "$tmp/err" || fail "--workers 0: no message"
many=$(( $(nproc) + 3 ))
"$dets" --backend openmp --workers "$many" --count 100 --n 3 >/dev/null \
  2>"$tmp/err" || fail "--workers $many"
[ "$(grep -c "$many workers on $(nproc) cores" "$tmp/err")" -eq 1 ] ||
  fail "more workers than cores: not said once"
echo "dets.sh: all passed"
