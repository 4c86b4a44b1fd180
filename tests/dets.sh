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
echo "dets.sh: all passed"
