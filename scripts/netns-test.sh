#!/usr/bin/env bash
# Multi-host fault tests of the `telepathine` command: five network namespaces joined by veth
# pairs to a bridge (in a namespace of its own), one node per namespace on a private network
# (10.77.0.0/24) that exists only inside those namespaces, all with a network key from a file.
#
# The bridge is two bridges joined by a veth "trunk": hosts 1-3 hang off br0, hosts 4-5 off br1.
# Bringing the trunk's links down cuts hosts 4 and 5 off from the rest while they still reach
# each other, so each side of the partition has at least two nodes. (A node cut off *alone*
# does not declare anyone dead: the core needs accusations from two distinct monitors,
# `dead_quorum`, and one isolated node has only its own.)
#
# Steps, each bounded in time:
#   1. membership and 100 keys converge;
#   2. with `tc netem` 20% loss and 50 ms delay on every link, a new key and a `say` still reach
#      every node (where the kernel has no netem, the 20% loss is applied with nftables and only
#      the delay is skipped, and said so);
#   3. a partition (two hosts' links brought down) is seen on both sides as dead peers; after
#      healing all converge again and nothing set during the partition is lost;
#   4. `kill -9` of one node is detected by all others; its restart on the same address (a new
#      generation) is seen alive and its new state wins;
#   5. a node started with the wrong key never appears in anyone's peer list.
#
# Needs root (namespaces, veth, tc). Installs iproute2 if missing. Cleans up every namespace and
# process it made, even when a step fails or it is interrupted. Prints `N passed, N failed` last
# and exits non-zero if anything failed.
#
#   sudo scripts/netns-test.sh            # builds the binary (debug) first
#   TELEPATHINE_BIN=/path/to/telepathine scripts/netns-test.sh
#
# Traffic goes only between the namespaces made here; the host's interfaces and routes are
# never touched.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=5
PORT=7946
SUBNET=10.77.0
GOSSIP_MS=200
TAG="tp$$"                 # namespace prefix, unique to this run
BR_NS="$TAG-br"
WORK=$(mktemp -d -t telepathine-netns.XXXXXX)
START=$SECONDS

PASSED=0
FAILED=0
SKIPPED=0
SUMMARY_DONE=0
declare -A PIDS=()          # node process ids, by node name
declare -A FDS=()           # the write end of each node's command pipe, by node name
declare -a NAMESPACES=()
EXTRA_PIDS=()

log() { printf '[%3ds] %s\n' "$((SECONDS - START))" "$*"; }
pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL: $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); log "SKIP: $*"; }

ns() { echo "$TAG-n$1"; }
addr() { echo "$SUBNET.$1:$PORT"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    sleep 0.3
    for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    done
    for n in "${NAMESPACES[@]}"; do
        ip netns del "$n" 2>/dev/null
    done
    if [ "$SUMMARY_DONE" = 0 ]; then
        # Stopped early (a fatal setup error or a signal): still end with the summary line.
        echo "$PASSED passed, $FAILED failed"
        [ "$rc" = 0 ] && rc=1
    fi
    if [ "${KEEP_LOGS:-0}" = 1 ]; then
        echo "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'fail "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Setup

if [ "$(id -u)" != 0 ]; then
    echo "netns-test: needs root (network namespaces, veth, tc)" >&2
    FAILED=1
    exit 1
fi

if ! command -v ip >/dev/null 2>&1 || ! command -v tc >/dev/null 2>&1; then
    log "installing iproute2"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi

if [ -n "${TELEPATHINE_BIN:-}" ]; then
    BIN=$TELEPATHINE_BIN
else
    # A debug build: the dependencies that matter (crypto, the KDF, the core) are optimised
    # even there, and it rebuilds much faster than release.
    log "building the telepathine command"
    (cd "$ROOT" && cargo build -q -p telepathine-tokio --bin telepathine) || {
        fail "building the telepathine command"
        exit 1
    }
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/telepathine"
fi
[ -x "$BIN" ] || { fail "no binary at $BIN"; exit 1; }

log "creating $NODES namespaces and a bridge ($SUBNET.0/24, inside the namespaces only)"
ip netns add "$BR_NS" && NAMESPACES+=("$BR_NS")
ip -n "$BR_NS" link set lo up
for br in br0 br1; do
    ip -n "$BR_NS" link add "$br" type bridge
    ip -n "$BR_NS" link set "$br" up
done
ip -n "$BR_NS" link add trunk0 type veth peer name trunk1
ip -n "$BR_NS" link set trunk0 master br0
ip -n "$BR_NS" link set trunk1 master br1
ip -n "$BR_NS" link set trunk0 up
ip -n "$BR_NS" link set trunk1 up
for i in $(seq 1 $NODES); do
    n=$(ns "$i")
    ip netns add "$n" && NAMESPACES+=("$n")
    ip -n "$n" link set lo up
    # Both ends are made in the bridge's namespace, one moved at once: the host never sees them.
    ip -n "$BR_NS" link add "vh$i" type veth peer name eth0 netns "$n"
    ip -n "$BR_NS" link set "vh$i" master "$([ "$i" -le 3 ] && echo br0 || echo br1)"
    ip -n "$BR_NS" link set "vh$i" up
    ip -n "$n" addr add "$SUBNET.$i/24" dev eth0
    ip -n "$n" link set eth0 up
done

printf 'correct horse battery staple\n' >"$WORK/key"
printf 'wrong horse\n' >"$WORK/wrong-key"
chmod 600 "$WORK/key" "$WORK/wrong-key"

# Does this kernel have netem? Try it on a scratch veth pair in the bridge's namespace.
NETEM=0
ip -n "$BR_NS" link add scratch0 type veth peer name scratch1
if tc -n "$BR_NS" qdisc add dev scratch0 root netem loss 20% delay 50ms 2>"$WORK/netem.err"; then
    NETEM=1
else
    log "NOTE: tc netem is unavailable on this kernel ($(tr '\n' ' ' <"$WORK/netem.err")): step 2 drops 20% with nftables instead, and its 50 ms delay is SKIPPED"
    if ! command -v nft >/dev/null 2>&1; then
        log "installing nftables"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; } || true
    fi
fi
ip -n "$BR_NS" link del scratch0 2>/dev/null

# ---------------------------------------------------------------------------------------------
# Driving nodes: each reads commands from a named pipe that this script holds open, and writes
# its answers to a file. Replies are the lines that do not start with `event `.

# start_node I [KEYFILE] [PORT] [NAME]: starts a node in namespace I.
start_node() {
    local i=$1 key=${2:-$WORK/key} port=${3:-$PORT} name=${4:-$1}
    local fifo="$WORK/in.$name" out="$WORK/out.$name"
    rm -f "$fifo"
    mkfifo "$fifo"
    : >"$out"
    local seeds=()
    for s in 1 2; do
        [ "$SUBNET.$s:$PORT" != "$SUBNET.$i:$port" ] && seeds+=(--seed "$SUBNET.$s:$PORT")
    done
    ip netns exec "$(ns "$i")" "$BIN" --bind "$SUBNET.$i:$port" "${seeds[@]}" \
        --network-key-file "$key" --gossip-interval-ms $GOSSIP_MS --heartbeat-interval-ms $GOSSIP_MS \
        --watch 'say.**' --watch 'peer.*' <"$fifo" >>"$out" 2>"$WORK/err.$name" &
    PIDS[$name]=$!
    # Opened read-write, so this never blocks and the node never sees end-of-input.
    local fd
    exec {fd}<>"$fifo"
    FDS[$name]=$fd
}

# send NODE COMMAND...: writes one command line, without waiting.
send() {
    local name=$1
    shift
    printf '%s\n' "$*" >&"${FDS[$name]}"
}

# ask NODE COMMAND...: sends a command and puts its one-line reply in $REPLY_LINE.
ask() {
    local name=$1
    shift
    local out="$WORK/out.$name" before deadline=$((SECONDS + 5))
    before=$(wc -l <"$out")
    send "$name" "$@"
    while [ $SECONDS -le $deadline ]; do
        REPLY_LINE=$(tail -n "+$((before + 1))" "$out" | grep -v '^event ' | head -n 1)
        if [ -n "$REPLY_LINE" ] && [ "$(tail -c 1 "$out" | od -An -c | tr -d ' ')" = '\n' ]; then
            return 0
        fi
        sleep 0.05
    done
    REPLY_LINE=""
    return 1
}

# wait_for TIMEOUT DESCRIPTION CHECK...: runs CHECK until it succeeds or TIMEOUT seconds pass;
# passes or fails the step accordingly. The last failing check's reason is in $WHY.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local t0=$SECONDS
    WHY=""
    while :; do
        if "$@"; then
            pass "$what ($((SECONDS - t0))s)"
            return 0
        fi
        if [ $((SECONDS - t0)) -ge "$timeout" ]; then
            fail "$what (not within ${timeout}s: $WHY)"
            return 1
        fi
        sleep 0.3
    done
}

# peers_of NODE WHICH: the peer list printed by `peers WHICH`, space-separated.
peers_of() {
    ask "$1" peers "$2" || { WHY="node $1 did not answer"; return 1; }
    PEERS=" $(echo "$REPLY_LINE" | cut -d' ' -f4-) "
}

# all_live "LIST": every node of LIST sees all the others of LIST as live.
all_live() {
    local i j
    for i in $1; do
        peers_of "$i" live || return 1
        for j in $1; do
            [ "$i" = "$j" ] && continue
            [[ $PEERS == *" $(addr "$j") "* ]] || { WHY="node $i does not see $j alive (live:$PEERS)"; return 1; }
        done
    done
}

# none_dead "LIST": no node of LIST lists any peer as dead.
none_dead() {
    local i
    for i in $1; do
        ask "$i" peers dead
        [ "$REPLY_LINE" = "peers dead 0" ] || { WHY="node $i still has dead peers ($REPLY_LINE)"; return 1; }
    done
}

# sees_dead "OBSERVERS" "VICTIMS": every observer lists every victim among its dead peers.
sees_dead() {
    local i j
    for i in $1; do
        peers_of "$i" dead || return 1
        for j in $2; do
            [[ $PEERS == *" $(addr "$j") "* ]] || { WHY="node $i does not see $j dead (dead:$PEERS)"; return 1; }
        done
    done
}

# has_remote "OBSERVERS" OWNER KEY VALUE: every observer holds OWNER's KEY with VALUE.
has_remote() {
    local i
    for i in $1; do
        if [ "$i" = "$2" ]; then ask "$i" get "$3"; else ask "$i" get-remote "$(addr "$2")" "$3"; fi
        [ "$REPLY_LINE" = "value $3 $4" ] || { WHY="node $i has $2's $3 as '${REPLY_LINE}'"; return 1; }
    done
}

# key_counts "OBSERVERS" "OWNERS" N: every observer holds exactly N keys of each other owner.
key_counts() {
    local i j
    for i in $1; do
        for j in $2; do
            [ "$i" = "$j" ] && continue
            ask "$i" keys "$(addr "$j")"
            [ "$(echo "$REPLY_LINE" | cut -d' ' -f3)" = "$3" ] ||
                { WHY="node $i holds $(echo "$REPLY_LINE" | cut -d' ' -f3) of $j's keys, not $3"; return 1; }
        done
    done
}

# heard_by "LISTENERS" SAYER EVENT PAYLOAD: every listener printed that it heard the event.
heard_by() {
    local i
    for i in $1; do
        grep -qx "event heard $(addr "$2") $3 $4" "$WORK/out.$i" ||
            { WHY="node $i has not heard $3"; return 1; }
    done
}

ALL=$(seq -s ' ' 1 $NODES)

# Checks made of several of the above.
converged() { all_live "$ALL" && none_dead "$ALL"; }
partition_keys_everywhere() {
    has_remote "$ALL" 1 part.a during-A && has_remote "$ALL" 4 part.b during-B
}
# 20 keys each from step 1, plus lossy.key on 3 and the partition keys on 1 and 4.
no_key_lost() { key_counts "$ALL" "2 5" 20 && key_counts "$ALL" "1 3 4" 21; }
new_life_wins() { has_remote "1 2 3 4" 5 life second && key_counts "1 2 3 4" 5 1; }

# ---------------------------------------------------------------------------------------------
log "starting $NODES nodes"
for i in $ALL; do start_node "$i"; done
for i in $ALL; do
    for _ in $(seq 1 100); do grep -q '^ready ' "$WORK/out.$i" && break; sleep 0.1; done
    grep -q '^ready ' "$WORK/out.$i" || { fail "node $i did not start: $(cat "$WORK/err.$i")"; exit 1; }
done

# 1. Membership and 100 keys (20 per node).
log "step 1: membership and 100 keys"
wait_for 15 "1a: membership converges on all $NODES nodes" all_live "$ALL"
for i in $ALL; do
    for k in $(seq 1 20); do send "$i" set "k$k" "v$i.$k"; done
done
wait_for 15 "1b: 100 keys (20 per node) converge on every node" key_counts "$ALL" "$ALL" 20 &&
    wait_for 5 "1c: values are right (spot check)" has_remote "$ALL" 3 k17 v3.17

# 2. Loss and delay.
log "step 2: lossy links"
NFT_LOSS=0
if [ $NETEM = 1 ]; then
    for i in $ALL; do
        tc -n "$BR_NS" qdisc add dev "vh$i" root netem loss 20% delay 50ms
        tc -n "$(ns "$i")" qdisc add dev eth0 root netem loss 20% delay 50ms
    done
    label="with 20% loss and 50 ms delay on every link"
elif command -v nft >/dev/null 2>&1; then
    # Without netem, drop 20% of every packet a node receives (each delivery crosses exactly one
    # receiving node), so every link loses 20%; nothing here can delay packets.
    for i in $ALL; do
        ip netns exec "$(ns "$i")" nft add table inet loss
        ip netns exec "$(ns "$i")" nft add chain inet loss in '{ type filter hook input priority 0; }'
        ip netns exec "$(ns "$i")" nft add rule inet loss in numgen random mod 100 '<' 20 drop
    done
    NFT_LOSS=1
    skip "2a: 50 ms delay on every link (tc netem unavailable on this kernel; 20% loss applied with nftables)"
    label="with 20% loss on every link (nftables)"
else
    skip "2a: 20% loss and 50 ms delay (neither tc netem nor nftables available)"
    label="on unimpaired links (no netem, no nftables)"
fi
send 3 set lossy.key survived
send 2 say lossy.event hello 30s
wait_for 20 "2b: a new key reaches every node $label" has_remote "$ALL" 3 lossy.key survived
wait_for 20 "2c: a say reaches every other node $label" heard_by "1 3 4 5" 2 lossy.event hello
if [ $NETEM = 1 ]; then
    for i in $ALL; do
        tc -n "$BR_NS" qdisc del dev "vh$i" root 2>/dev/null
        tc -n "$(ns "$i")" qdisc del dev eth0 root 2>/dev/null
    done
fi
if [ $NFT_LOSS = 1 ]; then
    for i in $ALL; do
        ip netns exec "$(ns "$i")" nft delete table inet loss 2>/dev/null
    done
fi

# 3. Partition: hosts 4 and 5 cut off by bringing the links that join them to the rest down.
log "step 3: partition {1,2,3} | {4,5}"
ip -n "$BR_NS" link set trunk0 down
ip -n "$BR_NS" link set trunk1 down
send 1 set part.a during-A
send 4 set part.b during-B
wait_for 20 "3a: the majority side sees 4 and 5 dead" sees_dead "1 2 3" "4 5"
wait_for 20 "3b: the cut-off side sees 1, 2 and 3 dead" sees_dead "4 5" "1 2 3"
wait_for 5 "3c: the cut-off side still sees itself alive" all_live "4 5"
ip -n "$BR_NS" link set trunk0 up
ip -n "$BR_NS" link set trunk1 up
log "healed"
wait_for 20 "3d: after healing, membership converges again (all live, none dead)" converged
wait_for 15 "3e: keys set on both sides during the partition reach everyone" \
    partition_keys_everywhere
wait_for 5 "3f: nothing set before the partition was lost" no_key_lost

# 4. Crash and restart with a new generation.
log "step 4: kill -9 and restart"
send 5 set life first
wait_for 10 "4a: node 5's state is known before the crash" has_remote "1 2 3 4" 5 life first
kill -KILL "${PIDS[5]}"
wait "${PIDS[5]}" 2>/dev/null
PIDS[5]=""
old_fd=${FDS[5]}
exec {old_fd}>&-
wait_for 20 "4b: kill -9 of node 5 is detected by all others" sees_dead "1 2 3 4" 5
start_node 5
for _ in $(seq 1 100); do grep -q '^ready ' "$WORK/out.5" && break; sleep 0.1; done
send 5 set life second
wait_for 15 "4c: the restarted node 5 is seen alive by all (none dead)" converged
wait_for 15 "4d: its new state wins (life=second, and its old life's 20 keys are gone)" \
    new_life_wins

# 5. A node with the wrong key, in node 3's namespace on another port.
log "step 5: a node with the wrong key"
dropped_before=0
for i in 1 2; do
    ask "$i" stats
    d=$(echo "$REPLY_LINE" | tr ' ' '\n' | grep '^dropped=' | cut -d= -f2)
    dropped_before=$((dropped_before + ${d:-0}))
done
start_node 3 "$WORK/wrong-key" 7950 intruder
intruder="$SUBNET.3:7950"
leaked=""
for _ in $(seq 1 20); do # 20 x ~0.3 s: many gossip and heartbeat rounds
    for i in $ALL; do
        peers_of "$i" all
        [[ $PEERS == *" $intruder "* ]] && leaked="$leaked $i"
    done
    sleep 0.1
done
if [ -z "$leaked" ]; then
    pass "5a: the wrong-key node never appears in any peer list"
else
    fail "5a: the wrong-key node appeared in the peer lists of nodes:$leaked"
fi
ask intruder peers all
if [ "$REPLY_LINE" = "peers all 0" ]; then
    pass "5b: the wrong-key node learned of no peer"
else
    fail "5b: the wrong-key node learned of peers: $REPLY_LINE"
fi
dropped_after=0
for i in 1 2; do
    ask "$i" stats
    d=$(echo "$REPLY_LINE" | tr ' ' '\n' | grep '^dropped=' | cut -d= -f2)
    dropped_after=$((dropped_after + ${d:-0}))
done
if [ "$dropped_after" -gt "$dropped_before" ]; then
    pass "5c: the seeds received and dropped the wrong-key node's messages ($((dropped_after - dropped_before)))"
else
    fail "5c: the seeds dropped nothing: was the wrong-key node ever heard?"
fi

# Graceful exit: `quit` on every node, which must answer `bye`.
for i in $ALL intruder; do send "$i" quit; done
bye_ok=1
for i in $ALL intruder; do
    for _ in $(seq 1 50); do grep -q '^bye$' "$WORK/out.$i" && break; sleep 0.1; done
    grep -q '^bye$' "$WORK/out.$i" || bye_ok=0
done
if [ $bye_ok = 1 ]; then pass "quit leaves gracefully on every node"; else fail "some node did not answer quit with bye"; fi

log "done in $((SECONDS - START))s"
if [ $SKIPPED -gt 0 ]; then
    echo "skipped: $SKIPPED (see SKIP lines above)"
fi
echo "$PASSED passed, $FAILED failed"
SUMMARY_DONE=1
[ $FAILED = 0 ]
