#!/bin/sh
# The shared library's exported symbols: the API (pk_ and a letter) and, of
# the library's own (pk__), exactly those the mpi plugin calls; and no call
# of the library's to an exported function of its own goes through the PLT
# or the GOT, where a program's function of the same name would take its
# place (-Bsymbolic-functions; Makefile.am's PLUGIN_SYMBOLS).
set -u
b="${top_builddir:-.}"
lib="$b/.libs/libparkit.so"
plugin="$b/.libs/parkit-mpi.so"
tmp="${TMPDIR:-/tmp}/parkit-exports-$$"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$lib" ] || { echo "SKIP: no shared library"; exit 77; }
for t in nm readelf comm; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: no $t"; exit 77; }
done
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '{print $3}' | sort >"$tmp/exported"
[ -s "$tmp/exported" ] || fail "nm read no symbol from $lib"
grep -v '^pk_' "$tmp/exported" >"$tmp/other" &&
  fail "exported without the pk_ prefix: $(cat "$tmp/other")"
grep -q '^pk_map$' "$tmp/exported" || fail "pk_map is not exported"
grep '^pk__' "$tmp/exported" >"$tmp/own"
if [ -f "$plugin" ]; then
  nm -D --undefined-only "$plugin" | awk '{print $2}' | grep '^pk__' |
    sort >"$tmp/needed"
  comm -13 "$tmp/own" "$tmp/needed" >"$tmp/missing"
  [ -s "$tmp/missing" ] && fail "the plugin calls, and the library does" \
    "not export (add to PLUGIN_SYMBOLS): $(tr "\n" " " <"$tmp/missing")"
  comm -23 "$tmp/own" "$tmp/needed" >"$tmp/extra"
  [ -s "$tmp/extra" ] && fail "exported for no caller (take out of" \
    "PLUGIN_SYMBOLS): $(tr "\n" " " <"$tmp/extra")"
fi

# Relocations against exported functions: calls a program could divert.
readelf --dyn-syms -W "$lib" | awk '$4 == "FUNC" && $7 != "UND" {print $8}' |
  sort -u >"$tmp/funcs"
readelf -rW "$lib" | awk '$5 ~ /^pk_/ {print $5}' | sort -u >"$tmp/relocated"
comm -12 "$tmp/funcs" "$tmp/relocated" >"$tmp/diverted"
[ -s "$tmp/diverted" ] && fail "the library reaches its own functions" \
  "through relocations (no -Bsymbolic-functions?): $(head -5 "$tmp/diverted" | tr "\n" " ")"
echo "exports.sh: $(wc -l <"$tmp/exported") symbols, $(wc -l <"$tmp/own") of them pk__ for the plugin"
