#!/usr/bin/env bash
# Callgrind instructions per call of every variant of case 1 (uncontended,
# 1 task) and case 2 (contended: 64 tasks, 8 slots, body yields once), both on
# the current_thread runtime, `--runs 1` (one warm-up run plus one measured
# run, both counted). Prints a markdown table. Issue 14's targets are these
# counts: they are exact and repeatable on a shared, noisy machine, where
# timings are not.
#
#   bench/callgrind.sh                     # build, then every variant
#   bench/callgrind.sh --no-build          # reuse the binary
#   bench/callgrind.sh pooled futures-intrusive semaphore
#                                          # only the rows whose case-1 or
#                                          # case-2 variant is named (pooled
#                                          # is always measured: the ratios)
#   bench/callgrind.sh --guard             # CI's regression guard: three
#                                          # ratios against bounds (below);
#                                          # exits 1 if one is passed
#
# What is counted:
# * case 1: only the timed loop, `gate::sequential` (`--toggle-collect`):
#   `calls` = 2 runs x 500 000;
# * case 2: everything inside `runtimes::run` (`--toggle-collect`): spawning
#   the 64 tasks, the calls, the runtime's scheduling between them, joining;
#   not the process's setup. `calls` = 2 runs x 64 tasks x 1 000. (Only
#   `gate::contended` would leave out the task switches a waiting call costs.)
# * case 3 (`--guard` only): like case 1, `gate::sequential`, 2 x 500 000.
# If the cases' sizes change, change CASE1_CALLS / CASE2_CALLS below.
#
# The guard (`--guard`) checks ratios measured in the same run, not absolute
# counts, so that a compiler or dependency update moving every variant alike
# does not trip it; each bound leaves a few percent above the ratio at the
# time it was set (`BENCHMARKS.md`), so a change that adds work to a hot path
# fails CI instead of waiting for someone to rerun the table:
# * case 1: pooled <= 1.05x futures-intrusive (0.99x when set);
# * case 2: pooled FIFO <= 0.94x tokio's Semaphore (0.89x when set, on the `perf`
#   branch: 1398 / 1566; the bound was 1.05x at 1.01x before it);
# * case 3: the #[pooled] fn <= 1.12x the same call through Pool::submit
#   (1.09x when set; issue 14's target is 1.05x, not met);
# * case 1, a permit (`pool.acquire().await`, then the body, then the drop)
#   <= 0.90x tokio's Semaphore in the same form (0.84x when set: 242 / 288;
#   it was 528 / 288 before the permit got a future of its own).
#
# Environment: CARGO_TARGET_DIR (default: target), VALGRIND (default: valgrind).
set -euo pipefail

CASE1_CALLS=1000000
CASE2_CALLS=128000

# label | case-1 variant | case-2 variant ("-": not in that case)
ROWS=(
  "pooled, FIFO|pooled|pooled-fifo"
  "pooled, LIFO|-|pooled-lifo"
  "pooled, priority (weights 0..32)|-|pooled-priority"
  "pooled permit: acquire().await, then the body|permit|permit"
  "tokio 1 Semaphore|semaphore|semaphore"
  "futures-intrusive 0.5 Semaphore (fair)|futures-intrusive|futures-intrusive"
  "async-lock 3 Semaphore (not FIFO)|async-lock|async-lock"
  "priority-semaphore 0.2, one priority|priority-semaphore|priority-semaphore-fifo"
  "priority-semaphore 0.2, weights 0..32|-|priority-semaphore-priority"
  "ranked-semaphore 0.1 (FIFO), one priority|ranked-semaphore|ranked-semaphore-fifo"
  "ranked-semaphore 0.1, weights 0..32|-|ranked-semaphore-priority"
  "tower 0.5 ConcurrencyLimit (global layer)|tower-limit|tower-limit"
  "worker-queue pool (8 workers)|-|worker-queue"
  "buffer_unordered(8), one task|-|buffer-unordered"
  "unthrottled (harness floor)|unthrottled|unthrottled"
)

build=1
guard=0
wanted=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --guard) guard=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) wanted+=("$arg") ;;
  esac
done

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/pooled-bench
if [[ $build == 1 ]]; then
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p pooled-bench >&2
fi

# Instructions per call of variant $2 of case $1 ("" for "-").
per_call() {
  local case=$1 variant=$2 toggle calls collected
  [[ $variant == - ]] && return
  if [[ $case == 1 || $case == 3 ]]; then
    toggle='*gate*sequential*' calls=$CASE1_CALLS
  else
    toggle='*runtimes::run*' calls=$CASE2_CALLS
  fi
  collected=$("${VALGRIND:-valgrind}" --tool=callgrind --callgrind-out-file=/dev/null \
    --toggle-collect="$toggle" "$bin" --case "$case" --runtime current --runs 1 \
    --variant "$variant" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  [[ -n $collected ]] || { echo "callgrind failed: case $case, $variant" >&2; exit 1; }
  echo $((collected / calls))
}

# "a ÷ b" to two decimals, or "—" when either is missing.
ratio() {
  if [[ -n $1 && -n $2 && $2 != 0 ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'
  else
    echo —
  fi
}

selected() {
  local c1=$2 c2=$3 name
  [[ ${#wanted[@]} == 0 || $c1 == pooled ]] && return 0
  for name in "${wanted[@]}"; do
    [[ $name == "$c1" || $name == "$c2" ]] && return 0
  done
  return 1
}

# `--guard`: "name a b bound" fails if a / b > bound.
if [[ $guard == 1 ]]; then
  failed=0
  check() {
    local verdict
    # A count that is missing or zero (valgrind failed, a variant renamed, a
    # toggle that collected nothing) is a failure, not a ratio of 0.
    if ! [[ $2 =~ ^[1-9][0-9]*$ && $3 =~ ^[1-9][0-9]*$ ]]; then
      echo "FAIL $1: no instruction count ('$2', '$3')" && failed=1
      return
    fi
    verdict=$(awk -v a="$2" -v b="$3" -v bound="$4" \
      'BEGIN { r = a / b; printf "%.3f", r; exit !(r <= bound) }') && ok=1 || ok=0
    if [[ $ok == 1 ]]; then
      echo "ok   $1: $2 / $3 = ${verdict}x <= $4x"
    else
      echo "FAIL $1: $2 / $3 = ${verdict}x > $4x" && failed=1
    fi
  }
  # Plain assignments, so that a failing measurement stops the script
  # (set -e does not see a failure inside an argument's substitution).
  c1=$(per_call 1 pooled)
  c1_peer=$(per_call 1 futures-intrusive)
  c2=$(per_call 2 pooled-fifo)
  c2_peer=$(per_call 2 semaphore)
  c3=$(per_call 3 annotated)
  c3_peer=$(per_call 3 pool-submit)
  c4=$(per_call 1 permit)
  c4_peer=$(per_call 1 semaphore)
  check "case 1, pooled / futures-intrusive" "$c1" "$c1_peer" 1.05
  check "case 2, pooled FIFO / tokio Semaphore" "$c2" "$c2_peer" 0.94
  check "case 3, #[pooled] fn / Pool::submit" "$c3" "$c3_peer" 1.12
  check "case 1, permit / tokio Semaphore" "$c4" "$c4_peer" 0.90
  exit $failed
fi

echo "callgrind, current_thread runtime, --runs 1; $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' + uncommitted changes'); $(rustc --version)"
echo
echo "| variant | case 1 uncontended, instr/call | pooled ÷ it | case 2 contended, instr/call | pooled FIFO ÷ it |"
echo "|---|---:|---:|---:|---:|"
pooled1='' pooled2=''
for row in "${ROWS[@]}"; do
  IFS='|' read -r label c1 c2 <<<"$row"
  selected "$label" "$c1" "$c2" || continue
  echo "  $label ..." >&2
  i1=$(per_call 1 "$c1")
  i2=$(per_call 2 "$c2")
  [[ $c1 == pooled ]] && pooled1=$i1 pooled2=$i2
  echo "| $label | ${i1:-—} | $(ratio "$pooled1" "$i1") | ${i2:-—} | $(ratio "$pooled2" "$i2") |"
done
