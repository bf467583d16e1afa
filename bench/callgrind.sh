#!/bin/sh
# Instructions per record through the pipeline benchmark (bench/
# pipeline.rs), counted by callgrind: repeatable where timings on a busy
# machine are not. Two runs of different lengths, so that what does not
# depend on the record count (setup, the first inserts) cancels out.
#
# Usage: bench/callgrind.sh [json|text]...   (default: json text)
# BENCH_ARGS passes more options to the benchmark, e.g.
# BENCH_ARGS="--without security" for the cost of a part by difference.
set -eu
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench pipeline --no-run --message-format=json 2>/dev/null |
	sed -n 's/.*"executable":"\([^"]*pipeline[^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "pipeline benchmark not built" >&2; exit 1; }
short=20000
long=70000
instructions() {
	out=$(mktemp)
	valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$bin" --mode "$1" --records "$2" --runs 1 --no-digest ${BENCH_ARGS:-} >/dev/null 2>&1
	sed -n 's/^summary: *//p' "$out"
	rm -f "$out"
}
for mode in ${*:-json text}; do
	a=$(instructions "$mode" $short)
	b=$(instructions "$mode" $long)
	echo "$mode: $(( (b - a) / (long - short) )) instructions/record"
done
