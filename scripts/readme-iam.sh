#!/usr/bin/env bash
# `make readme-iam`: the README's IAM policy block (between the markers
# "<!-- BEGIN ddbm plan --policy -->" and "<!-- END ddbm plan --policy -->")
# rewritten from `ddbm plan --policy-only` on nginx.conf.example
# (scripts/plan.sh).  With --check, nothing is written: exit 1 and a diff
# when the block differs from what the CLI generates now (make test).
set -euo pipefail
cd "$(dirname "$0")/.."

begin='<!-- BEGIN ddbm plan --policy -->'
end='<!-- END ddbm plan --policy -->'

policy=$(bash scripts/plan.sh --policy-only)

grep -qxF -- "$begin" README.md && grep -qxF -- "$end" README.md || {
    echo "readme-iam: README.md lacks the markers $begin / $end" >&2
    exit 1
}

new=$(mktemp)
trap 'rm -f "$new"' EXIT

BEGIN_MARK=$begin END_MARK=$end POLICY=$policy awk '
    $0 == ENVIRON["BEGIN_MARK"] {
        print; print "```json"; print ENVIRON["POLICY"]; print "```"
        skip = 1; next
    }
    $0 == ENVIRON["END_MARK"] { skip = 0 }
    !skip { print }
' README.md > "$new"

if [ "${1:-}" = --check ]; then
    if ! diff -u README.md "$new"; then
        echo "readme-iam: README.md's IAM policy is not what" \
             "\`ddbm plan --policy-only nginx.conf.example\` generates:" \
             "run \`make readme-iam\`" >&2
        exit 1
    fi
    echo "readme-iam: README.md's IAM policy is the generated one"
    exit 0
fi

cat "$new" > README.md
