# Sourced by run.sh and lawcat/tests/ptx_corpus/sanitizer.sh: one compute-sanitizer run and
# its verdict in a word or a line. Needs SAN (the compute-sanitizer binary) and LIMIT (seconds).
#
#   sanitize TOOL WIDTH COMMAND...   prints clean | ERROR: the first finding (WIDTH characters
#                                    at most) | hang (killed after LIMITs) | failed (exit N): ...
sanitize() {
    local tool=$1 width=$2 out rc
    shift 2
    out=$(timeout "$LIMIT" "$SAN" --tool "$tool" --error-exitcode 99 --print-limit 5 "$@" 2>&1)
    rc=$?
    case $rc in
        0) echo "clean" ;;
        99) echo "ERROR: $(grep -m1 -E '=========  *(Invalid|Race|Barrier|Uninitialized|Error|Warning|Misaligned|Out of bounds|.*hazard)' <<<"$out" | sed 's/^=* *//' | cut -c1-"$width")" ;;
        124) echo "hang (killed after ${LIMIT}s)" ;;
        *) echo "failed (exit $rc): $(grep -m1 -iE 'error|fail' <<<"$out" | cut -c1-"$width")" ;;
    esac
}
