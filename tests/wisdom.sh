#!/bin/sh
# The FFTW wisdom file as users meet it, through examples/fft2 and
# examples/autocorr: a first run in an empty cache writes wisdom there, a
# second run reads it and writes nothing; four runs at once leave a file
# FFTW still reads; a file that is not wisdom is refused and left as it was;
# an unknown planner is refused; off writes nothing; an unwritable file is
# said under --pk-verbose and the run still succeeds.
set -u
b="${top_builddir:-.}"
fft2="$b/examples/fft2"
autocorr="$b/examples/autocorr"
tmp="${TMPDIR:-/tmp}/parkit-wisdom-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
unset PARKIT_FFTW_WISDOM PARKIT_FFTW_PLANNER
XDG_CACHE_HOME="$tmp/cache"
export XDG_CACHE_HOME
backend=serial
"$fft2" --backend fork --count 1 >/dev/null 2>&1 && backend=fork

# First run: the cache directory is made, the file begins as FFTW wisdom.
"$fft2" --backend "$backend" --workers 2 --count 30 --h 24 --w 20 \
  --pk-verbose >/dev/null 2>"$tmp/err1" || fail "first run: $(cat "$tmp/err1")"
set -- "$tmp"/cache/parkit/fftw-*.wisdom
[ $# -eq 1 ] && [ -s "$1" ] || fail "no wisdom file in $tmp/cache/parkit: $*"
w="$1"
head -c 8 "$w" | grep -q '^(fftw-3\.' || fail "not FFTW wisdom: $(head -c 40 "$w")"
tail -c 2 "$w" | grep -q ')' || fail "wisdom file not closed"
grep -q "wrote $w" "$tmp/err1" || fail "first run did not say it wrote $w"
grep -q "planned by estimate" "$tmp/err1" ||
  fail "a 30-item map was not planned by estimate: $(cat "$tmp/err1")"
cp "$w" "$tmp/w1"

# Second run: reads the file, learns nothing new, leaves it as it was.
"$fft2" --backend "$backend" --workers 2 --count 30 --h 24 --w 20 \
  --pk-verbose >/dev/null 2>"$tmp/err2" || fail "second run"
grep -q "read $w" "$tmp/err2" || fail "second run did not read $w"
grep -q "wrote" "$tmp/err2" && fail "second run wrote wisdom again"
cmp -s "$w" "$tmp/w1" || fail "second run changed the wisdom file"

# Four runs at once, each learning another size: one valid file after,
# with what each learnt, that FFTW reads back.
i=0
for s in 18 30 36 40; do
  "$autocorr" --backend serial --method fft --count 3 --h "$s" --w "$s" \
    >/dev/null 2>&1 &
  i=$((i + 1))
done
wait
head -c 8 "$w" | grep -q '^(fftw-3\.' || fail "concurrent runs: not wisdom"
tail -c 2 "$w" | grep -q ')' || fail "concurrent runs: file cut short"
[ "$(wc -l <"$w")" -gt "$(wc -l <"$tmp/w1")" ] ||
  fail "concurrent runs: nothing merged"
ls "$tmp"/cache/parkit | grep -v '\.wisdom$' | grep -v '\.lock$' |
  grep -q . && fail "temporary files left: $(ls "$tmp"/cache/parkit)"
"$fft2" --backend serial --count 2 --h 24 --w 20 --pk-verbose \
  >/dev/null 2>"$tmp/err3" || fail "run after the concurrent ones"
grep -q "read $w" "$tmp/err3" || fail "FFTW did not read the merged file: $(cat "$tmp/err3")"
# No run's wisdom was lost: each finds all it would learn already there.
for s in 18 30 36 40; do
  "$autocorr" --backend serial --method fft --count 3 --h "$s" --w "$s" \
    --pk-verbose >/dev/null 2>"$tmp/err7" || fail "rerun of $s"
  grep -q "wrote" "$tmp/err7" && fail "the wisdom of size $s was lost"
done

# A file that is not wisdom: refused, and byte for byte as it was.
printf '\223NUMPY\001\000 the user data' >"$tmp/data.npy"
cp "$tmp/data.npy" "$tmp/data.copy"
PARKIT_FFTW_WISDOM="$tmp/data.npy" "$fft2" --backend serial --count 3 \
  --pk-verbose >/dev/null 2>"$tmp/err4" && fail "a data file was taken as wisdom"
grep -q "not an FFTW wisdom file" "$tmp/err4" || fail "no refusal: $(cat "$tmp/err4")"
cmp -s "$tmp/data.npy" "$tmp/data.copy" || fail "the data file was changed"

# An unknown planner name: refused, with the valid names.
PARKIT_FFTW_PLANNER=fastest "$fft2" --backend serial --count 3 --pk-verbose \
  >/dev/null 2>"$tmp/err5" && fail "unknown planner accepted"
grep -q "estimate, measure, patient, exhaustive or reproducible" "$tmp/err5" ||
  fail "unknown planner: $(cat "$tmp/err5")"

# off: no file anywhere.
XDG_CACHE_HOME="$tmp/cache2" PARKIT_FFTW_WISDOM=off "$fft2" --backend serial \
  --count 3 >/dev/null 2>&1 || fail "off"
[ -e "$tmp/cache2" ] && fail "off still wrote $(ls -R "$tmp/cache2")"

# Unwritable: the run succeeds, and says so when verbose.
PARKIT_FFTW_WISDOM="$tmp/no/such/dir/w" "$fft2" --backend serial --count 3 \
  --pk-verbose >/dev/null 2>"$tmp/err6" || fail "an unwritable file failed the run"
grep -q "cannot" "$tmp/err6" || fail "unwritable file not said: $(cat "$tmp/err6")"
echo "wisdom.sh: all passed"
