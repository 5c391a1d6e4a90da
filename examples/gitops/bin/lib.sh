# Shared by the GitOps recipe commands (docs/gitops.md). Sourced, not run.
#
# Each command is run by a Sluice workflow: its parameters are in SLUICE_PARAM_* (and as JSON on standard
# input), its run id in SLUICE_RUN_ID. `step NAME key=value…` records the step and then runs it through
# GITOPS_EXECUTOR when that names a program (e.g. a wrapper around kubectl, helm or argocd), else only
# prints what would be done. GITOPS_RECORD, when set, is a file that gets one line per step (the tests use it).
set -eu

step() {
    name=$1
    shift
    line="$name $*"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) run=$SLUICE_RUN_ID attempt=${SLUICE_RUN_ATTEMPT:-1} $line"
    if [ -n "${GITOPS_RECORD:-}" ]; then
        # One write of one line: appends from concurrent runs do not interleave.
        printf '%s\n' "$line" >> "$GITOPS_RECORD"
    fi
    if [ -n "${GITOPS_EXECUTOR:-}" ]; then
        "$GITOPS_EXECUTOR" "$name" "$@"
    fi
}

# require NAME: fails the run (a retry follows) when the parameter is missing or empty.
require() {
    eval "value=\${SLUICE_PARAM_$1:-}"
    if [ -z "$value" ]; then
        echo "parameter $1 is missing" >&2
        exit 2
    fi
}
