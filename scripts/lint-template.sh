#!/usr/bin/env bash
# Lints the SAM template with three tools and fails on any warning or error from any of them:
#   1. cfn-lint, newest release (.venv)           - CloudFormation schemas, current rules
#   2. cfn-lint<1.54 (.venv-cfn-lint-legacy)      - still translates the SAM transform first, so it
#                                                   also checks what SAM generates (e.g. a broken
#                                                   !Ref inside a function's event)
#   3. sam validate --lint, then sam validate     - SAM CLI's cfn-lint run, then SAM's own
#      (.venv-sam)                                  translator (catches invalid SAM properties)
#   4. cfn-lint newest over the SAM-transformed   - what CloudFormation deploys: generated roles,
#      template (scripts/sam-translate.py,          rules, schedules, invoke configs, merged
#      .venv-checkov's aws-sam-translator)          Globals
#   5. checkov (.venv-checkov)                    - IaC security checks; a skipped check needs
#                                                   a justification in the resource's Metadata
#   6. central.yaml (the organization's central   - cfn-lint newest and checkov (only when the
#      stack) as well                               default template is linted)
# Both cfn-lints also show informational findings (-c I) but only warnings and errors fail.
# Everything runs offline: SAM CLI gets dummy credentials and an unreachable AWS endpoint, so
# it can never reach a real account (it needs none for these checks).
#
# Usage: scripts/lint-template.sh [TEMPLATE]   (default: template.yaml at the repo root)
# Exit status: 0 when all tools are clean, 1 when any found something, 2 on setup problems.
set -uo pipefail
if (($#)); then
  template=$(realpath -- "$1") || exit 2 # resolved before the cd below
fi
cd "$(dirname "$0")/.."
template=${template:-template.yaml}
region=us-east-1

if [[ ! -f "$template" ]]; then
  echo "lint-template: no such template: $template" >&2
  exit 2
fi

# Create or refresh the venvs if needed (a no-op when they are up to date).
scripts/venv.sh all || { echo "lint-template: could not set up the Python venvs" >&2; exit 2; }

failed=()

run() { # run NAME CMD... : prints a header, runs CMD, records NAME when it exits non-zero
  local name=$1
  shift
  echo
  echo "=== $name"
  echo "+ $*"
  if "$@"; then
    echo "--- $name: clean"
  else
    echo "--- $name: FAILED (exit $?)"
    failed+=("$name")
  fi
}

translator_version() { # the SAM translator a venv's cfn-lint uses, if any (newest cfn-lint has none)
  "$1/bin/python" -c 'import samtranslator; print(samtranslator.__version__)' 2>/dev/null || echo none
}

# cfn-lint exit codes are a bit mask (2 error, 4 warning, 8 informational); with
# --non-zero-exit-code warning any warning or error gives a non-zero status whatever
# informational findings come with it, and -c I makes those informational findings visible.
cfn_lint_args=(--regions "$region" --include-checks I --non-zero-exit-code warning --format pretty)

echo "cfn-lint (newest):  $(.venv/bin/cfn-lint --version), aws-sam-translator $(translator_version .venv)"
run "cfn-lint newest" .venv/bin/cfn-lint "${cfn_lint_args[@]}" -- "$template"

echo
echo "cfn-lint (<1.54):   $(.venv-cfn-lint-legacy/bin/cfn-lint --version), aws-sam-translator $(translator_version .venv-cfn-lint-legacy)"
run "cfn-lint legacy" .venv-cfn-lint-legacy/bin/cfn-lint "${cfn_lint_args[@]}" -- "$template"

# Globals only reach the linters through the functions they are merged into, so while the
# template has no function (or to be sure they merge cleanly) the legacy cfn-lint also lints a
# copy with a minimal probe function appended to the end of Resources. Line numbers it reports
# are those of the real template (the probe comes after every line it could point at).
probe=$(mktemp --suffix=.globals-probe.yaml)
trap 'rm -f "$probe"' EXIT
awk '
  function emit() {
    print "  LintGlobalsProbeFunction:"
    print "    Type: AWS::Serverless::Function"
    print "    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: lint-probe}}"
    print "    Properties: {CodeUri: .}"
    done = 1
  }
  /^[A-Za-z]/ { if (inres && !done) emit(); inres = ($0 ~ /^Resources:[[:space:]]*$/) }
  { print }
  END { if (inres && !done) emit() }
' "$template" >"$probe"
run "cfn-lint legacy, Globals probe" .venv-cfn-lint-legacy/bin/cfn-lint "${cfn_lint_args[@]}" -- "$probe"

# SAM CLI, isolated from any real AWS configuration: dummy credentials, a region, no profile,
# every AWS endpoint pointed at a closed local port, one attempt, no telemetry.
sam_env=(
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ROLE_ARN -u AWS_WEB_IDENTITY_TOKEN_FILE
  AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=lint-only
  AWS_REGION=$region AWS_DEFAULT_REGION=$region
  AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  SAM_CLI_TELEMETRY=0
)
sam_offline() { "${sam_env[@]}" .venv-sam/bin/sam "$@"; }
echo
echo "sam validate:       $(.venv-sam/bin/sam --version), bundled $(.venv-sam/bin/cfn-lint --version), aws-sam-translator $(translator_version .venv-sam)"
run "sam validate --lint" sam_offline validate --lint \
  --template-file "$template" --region "$region"

# Plain `sam validate` runs SAM's translator. It reads `lint = true` from samconfig.toml, so it
# gets an empty config file here. Offline is fine: it only asks IAM for managed policy names
# missing from the list the translator bundles, and would then fail fast on the dead endpoint.
empty_config=$(mktemp --suffix=.toml)
trap 'rm -f "$probe" "$empty_config"' EXIT
echo 'version = 0.1' >"$empty_config"
run "sam validate (translator)" sam_offline validate \
  --config-file "$empty_config" --template-file "$template" --region "$region"

# What CloudFormation deploys: the template as SAM transforms it (offline), linted by the
# newest cfn-lint, which no longer translates SAM itself.
transformed=$(mktemp --suffix=.transformed.json)
trap 'rm -f "$probe" "$empty_config" "$transformed"' EXIT
echo
echo "sam-translate:      aws-sam-translator $(translator_version .venv-checkov)"
lint_transformed() {
  .venv-checkov/bin/python scripts/sam-translate.py "$template" "$transformed" &&
    .venv/bin/cfn-lint "${cfn_lint_args[@]}" -- "$transformed"
}
run "cfn-lint newest, SAM-transformed" lint_transformed

# checkov's CloudFormation checks (SAM resources included). A check a resource skips must say
# why in its Metadata (checkov: skip: - id, comment); an unjustified skip fails here.
unjustified_skips() {
  .venv-checkov/bin/python - "$template" <<'PY'
import sys, yaml
class Loader(yaml.SafeLoader): pass
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
resources = yaml.load(open(sys.argv[1], encoding="utf-8"), Loader=Loader).get("Resources", {})
bad = [f"{name}: {skip.get('id')}" for name, resource in resources.items()
       for skip in (((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or [])
       if len(str(skip.get("comment") or "").strip()) < 20]
for line in bad: print(f"checkov skip without a justification (comment): {line}")
sys.exit(1 if bad else 0)
PY
}
echo
echo "checkov:            $(.venv-checkov/bin/checkov --version)"
run "checkov skips justified" unjustified_skips
# --skip-download: checkov would otherwise ask Prisma Cloud for guideline links (no network here,
# and none needed: the checks ship with the package).
run "checkov" .venv-checkov/bin/checkov --file "$template" --framework cloudformation --compact --quiet \
  --skip-download

# The organization's central stack (central.yaml, README.md "Deploy to an organization"):
# plain CloudFormation, linted with the default template by the newest cfn-lint and checkov.
if [[ $template == template.yaml ]]; then
  run "cfn-lint newest, central.yaml" .venv/bin/cfn-lint "${cfn_lint_args[@]}" -- central.yaml
  run "checkov, central.yaml" .venv-checkov/bin/checkov --file central.yaml \
    --framework cloudformation --compact --quiet --skip-download
fi

echo
if ((${#failed[@]})); then
  echo "lint-template: FAILED: ${failed[*]}"
  exit 1
fi
echo "lint-template: $template is clean (cfn-lint newest, cfn-lint <1.54, sam validate --lint, sam validate, cfn-lint on the SAM transform, checkov)"
