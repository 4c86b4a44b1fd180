#!/bin/sh
# multihost.sh HOSTS RANKS [mpirun options] -- PROGRAM [ARGUMENTS]
#
# Runs PROGRAM under mpirun across HOSTS hosts with RANKS ranks each, every
# host a Linux network namespace of this machine with its own hostname
# (h1, h2, ...), its own /dev/shm and an /etc/hosts naming the others.
# The hosts talk TCP over a private subnet (10.213.7.0/24) on a bridge
# that lives in a namespace of its own: nothing is added to this machine's
# own network, no namespace has a route out, and no address outside the
# subnet is used.  Between hosts Open MPI starts its daemons through an
# agent that acts as ssh does: the words joined, run by sh -c inside that
# host, with a clean environment (a rank on another host sees only what
# `-x VAR` forwards, as on a cluster).
#
# Everything is torn down on exit, after a failure, a timeout
# (PARKIT_MULTIHOST_TIMEOUT seconds, default 120) or a signal: the
# namespaces' processes are killed by PID first (`ip netns del` leaves
# them running), then the namespaces are deleted by name.
#
# Exit status: the program's (mpirun's); 124 on a timeout; 77 (skip) if
# this machine cannot do it (not root, no `ip netns`, no mpirun), with the
# reason on stdout.  MULTIHOST_KEEP_LOG=FILE keeps mpirun's own command.
set -u

usage() { echo "usage: multihost.sh HOSTS RANKS [mpirun options] -- PROGRAM [ARGS]" >&2; exit 2; }
[ $# -ge 4 ] || usage
hosts=$1 ranks=$2
shift 2
case "$hosts$ranks" in *[!0-9]*|'') usage ;; esac
[ "$hosts" -ge 1 ] && [ "$hosts" -le 16 ] && [ "$ranks" -ge 1 ] || usage

skip() { echo "SKIP: multi-host: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to make network namespaces"
command -v ip >/dev/null 2>&1 || skip "no 'ip' (iproute2)"
command -v unshare >/dev/null 2>&1 || skip "no 'unshare' (util-linux)"
mpirun=$(command -v "${MPIRUN:-mpirun}") || skip "no mpirun"

tag="pkmh$$"
sw="$tag-sw"
net=10.213.7
dir=$(mktemp -d "${TMPDIR:-/tmp}/parkit-multihost-XXXXXX") || exit 1
made=""

# Kill every process of every namespace we made (twice: a dying orted may
# leave a child), then delete the namespaces and our files.
teardown() {
  trap '' INT TERM HUP
  for ns in $made; do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  sleep 0.2
  for ns in $made; do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$dir"
}
trap 'teardown' EXIT
trap 'exit 130' INT TERM HUP

ip netns add "$sw" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
made="$sw"
ip -n "$sw" link add br0 type bridge || exit 1
ip -n "$sw" link set br0 up || exit 1
: >"$dir/hosts"
echo "127.0.0.1 localhost" >>"$dir/hosts"
i=1
while [ "$i" -le "$hosts" ]; do
  ns="$tag-h$i"
  ip netns add "$ns" || exit 1
  made="$made $ns"
  # One veth pair a host: "eth0" inside it, its peer on the bridge.
  ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$sw" || exit 1
  ip -n "$sw" link set "p$i" master br0 up || exit 1
  ip -n "$ns" addr add "$net.$i/24" dev eth0 || exit 1
  ip -n "$ns" link set eth0 up || exit 1
  ip -n "$ns" link set lo up || exit 1
  echo "$net.$i h$i" >>"$dir/hosts"
  printf 'h%d slots=%d\n' "$i" "$ranks" >>"$dir/hostfile"
  i=$((i + 1))
done

# enter HOST COMMAND...: COMMAND in host HOST's namespaces, as its own host.
cat >"$dir/enter" <<EOF
#!/bin/sh
h=\$1; shift
exec ip netns exec "$tag-\$h" unshare --uts --mount sh -c '
  hostname "\$0" && mount -t tmpfs -o size=2g tmpfs /dev/shm &&
  mount --bind "$dir/hosts" /etc/hosts && exec "\$@"' "\$h" "\$@"
EOF
# The rsh agent: as ssh, the words joined and run by sh -c on that host,
# in the login environment of a fresh shell, not the caller's.
cat >"$dir/agent" <<EOF
#!/bin/sh
h=\$1; shift
exec "$dir/enter" "\$h" env -i PATH="$PATH" HOME="\${HOME:-/root}" sh -c "\$*"
EOF
chmod +x "$dir/enter" "$dir/agent"
# A host must be able to take its own hostname and /dev/shm (a container
# without CAP_SYS_ADMIN cannot): skip, not fail, where it cannot.
"$dir/enter" h1 true >/dev/null 2>&1 ||
  skip "cannot make a host's UTS and mount namespaces (unshare --uts --mount)"

# Drop the "--" between mpirun's options and the program.
n=$#
seen=0
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  if [ "$a" = "--" ] && [ "$seen" = 0 ]; then seen=1; else set -- "$@" "$a"; fi
done
[ "$seen" = 1 ] || usage

OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
timeout "${PARKIT_MULTIHOST_TIMEOUT:-120}" "$dir/enter" h1 "$mpirun" \
  --hostfile "$dir/hostfile" --map-by "ppr:$ranks:node" --oversubscribe \
  --bind-to none \
  --mca plm_rsh_agent "$dir/agent" --mca plm_rsh_no_tree_spawn 1 \
  --mca btl self,vader,tcp --mca btl_tcp_if_include "$net.0/24" \
  --mca oob_tcp_if_include "$net.0/24" --mca mpi_yield_when_idle 1 \
  -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
  "$@" &
job=$!
wait "$job"
rc=$?
exit "$rc"
