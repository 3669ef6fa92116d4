#!/usr/bin/env python3
"""Deploys license automation to an AWS organization: a central stack and a StackSet.

Run it with the credentials of the organization's management account or of its delegated
administrator for CloudFormation StackSets, after `sam build` (README.md, "Deploy to an
organization"). In order:

  1. the central stack (central.yaml) in this account: the central event bus, whose policy
     admits every account of the organization (aws:PrincipalOrgID), the alert topic, the audit
     log and the dashboard across accounts; created, or updated when it exists;
  2. `sam package` of the built template (`--template-file`) into `--s3-bucket`, then the SAM
     transform, offline (scripts/sam-translate.py): a StackSet with service-managed
     permissions refuses templates with a transform, so it gets the plain CloudFormation;
  3. the StackSet (service-managed permissions, automatic deployment: accounts that join a
     target OU get the stack, accounts that leave lose it), created or updated, with
     CentralEventBusArn set to the central bus so every member forwards its events there;
  4. its stack instances in every `--organizational-unit` and `--region` not yet covered,
     and waits for the StackSet operations to finish.

Every input is an option (below); `--parameter Name=Value` passes any other template
parameter to the member stacks. Exit status: 0 when deployed, 1 when AWS refused or an
operation failed (named), 2 on a usage or setup problem.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import botocore.exceptions

ROOT = Path(__file__).resolve().parent.parent
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployError(Exception):
    """AWS refused a step, or an operation ended other than SUCCEEDED."""


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="deploy-org",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--organizational-unit", dest="ous", action="append", required=True, metavar="OU_ID",
        help="an OU (ou-...) whose accounts get the member stack (repeatable; the root r-... "
        "for the whole organization)",
    )
    parser.add_argument(
        "--region", dest="regions", action="append", required=True, metavar="REGION",
        help="a region the member stacks are deployed in (repeatable)",
    )
    parser.add_argument(
        "--s3-bucket", required=True,
        help="bucket for the packaged code and template (in this account; member accounts "
        "must be able to read it, e.g. a bucket policy on aws:PrincipalOrgID)",
    )
    parser.add_argument("--s3-prefix", default="license-automation",
                        help="key prefix in the bucket (default: %(default)s)")
    parser.add_argument(
        "--template-file", type=Path, default=ROOT / ".aws-sam" / "build" / "template.yaml",
        help="the template `sam build` wrote (default: %(default)s)",
    )
    parser.add_argument("--stack-set-name", default="license-automation",
                        help="the member StackSet (default: %(default)s)")
    parser.add_argument("--central-stack-name", default="license-automation-central",
                        help="the central stack, also the central bus's name (default: %(default)s)")
    parser.add_argument("--central-region",
                        help="region of the central stack (default: the session's region)")
    parser.add_argument("--alert-email", default="",
                        help="subscribed to the central alert topic (optional)")
    parser.add_argument(
        "--parameter", dest="parameters", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter of the member stacks (repeatable), e.g. TrustPolicy=... DryRun=true",
    )
    parser.add_argument(
        "--call-as", choices=["SELF", "DELEGATED_ADMIN"],
        help="StackSets CallAs (default: SELF in the management account, else DELEGATED_ADMIN)",
    )
    parser.add_argument("--max-concurrent-percentage", type=int, default=25,
                        help="accounts deployed at once, percent per region (default: %(default)s)")
    parser.add_argument("--failure-tolerance-percentage", type=int, default=10,
                        help="failed accounts tolerated per region, percent (default: %(default)s)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds to wait for each stack or StackSet operation (default: %(default)s)")
    args = parser.parse_args(argv)
    for ou in args.ous:
        if not re.fullmatch(r"(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})", ou):
            parser.error(f"--organizational-unit {ou!r} is not an OU id (ou-...) or a root id (r-...)")
    for name_value in args.parameters:
        name, sep, _ = name_value.partition("=")
        if not sep or not name:
            parser.error(f"--parameter {name_value!r} is not NAME=VALUE")
        if name == "CentralEventBusArn":
            parser.error("--parameter CentralEventBusArn: deploy-org sets it to the central bus")
    for name in ("max_concurrent_percentage", "failure_tolerance_percentage"):
        if not 0 <= getattr(args, name) <= 100:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 100")
    if not args.template_file.is_file():
        parser.error(f"--template-file {args.template_file} does not exist: run `sam build` first")
    return args


def aws(step, call, **params):
    """Calls CALL(**PARAMS), turning AWS's refusal into a DeployError naming STEP."""
    try:
        return call(**params)
    except botocore.exceptions.ClientError as error:
        raise DeployError(f"{step}: {error}") from error


def deploy_central(cloudformation, args, organization_id, log):
    """Creates or updates the central stack; returns its outputs."""
    name = args.central_stack_name
    params = {
        "StackName": name,
        "TemplateBody": (ROOT / "central.yaml").read_text(encoding="utf-8"),
        "Parameters": [
            {"ParameterKey": "OrganizationId", "ParameterValue": organization_id},
            {"ParameterKey": "AlertEmail", "ParameterValue": args.alert_email},
        ],
        "Capabilities": ["CAPABILITY_IAM"],
    }
    try:
        cloudformation.describe_stacks(StackName=name)
        exists = True
    except botocore.exceptions.ClientError:
        exists = False
    waiter_config = {"Delay": 5, "MaxAttempts": max(1, args.timeout // 5)}
    if exists:
        try:
            cloudformation.update_stack(**params)
            log(f"central stack {name}: updating")
            cloudformation.get_waiter("stack_update_complete").wait(
                StackName=name, WaiterConfig=waiter_config)
        except botocore.exceptions.ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise DeployError(f"central stack {name}: {error}") from error
            log(f"central stack {name}: up to date")
    else:
        aws(f"central stack {name}", cloudformation.create_stack, **params)
        log(f"central stack {name}: creating")
        try:
            cloudformation.get_waiter("stack_create_complete").wait(
                StackName=name, WaiterConfig=waiter_config)
        except botocore.exceptions.WaiterError as error:
            raise DeployError(f"central stack {name}: {error}") from error
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "CentralEventBusArn" not in outputs:
        raise DeployError(f"central stack {name} has no CentralEventBusArn output")
    return outputs


def package(args, region, work, log):
    """`sam package` then the SAM transform; returns the plain template's S3 URL."""
    packaged, transformed = work / "packaged.yaml", work / "transformed.json"
    steps = [
        [str(ROOT / ".venv-sam" / "bin" / "sam"), "package", "--template-file",
         str(args.template_file), "--s3-bucket", args.s3_bucket, "--s3-prefix", args.s3_prefix,
         "--output-template-file", str(packaged), "--region", region],
        [str(ROOT / ".venv-checkov" / "bin" / "python"), str(ROOT / "scripts" / "sam-translate.py"),
         str(packaged), str(transformed)],
    ]
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    for command in steps:
        log("+ " + " ".join(command))
        if subprocess.run(command, env=env, check=False).returncode != 0:
            raise DeployError(f"packaging failed: {command[1]} {command[2]}")
    return transformed


def parameters(args, central_bus_arn):
    given = [dict(zip(("ParameterKey", "ParameterValue"), p.split("=", 1))) for p in args.parameters]
    return given + [{"ParameterKey": "CentralEventBusArn", "ParameterValue": central_bus_arn}]


def wait_operation(cloudformation, args, operation_id, call_as, log):
    deadline = time.monotonic() + args.timeout
    while True:
        operation = aws("StackSet operation", cloudformation.describe_stack_set_operation,
                        StackSetName=args.stack_set_name, OperationId=operation_id,
                        CallAs=call_as)["StackSetOperation"]
        status = operation["Status"]
        if status == "SUCCEEDED":
            log(f"StackSet operation {operation_id} ({operation['Action']}): SUCCEEDED")
            return
        if status in ("FAILED", "STOPPED"):
            raise DeployError(f"StackSet operation {operation_id} ({operation['Action']}) {status}: "
                              f"{operation.get('StatusReason', 'see list-stack-set-operation-results')}")
        if time.monotonic() > deadline:
            raise DeployError(f"StackSet operation {operation_id} still {status} after {args.timeout} s")
        time.sleep(5)


def covered(cloudformation, organizations, args, call_as):
    """The (OU, region) pairs the StackSet already has instances in. An instance summary
    names its OU; where it does not (moto), an OU counts as covered in a region when one of
    the accounts directly in it has an instance there."""
    summaries = []
    for page in cloudformation.get_paginator("list_stack_instances").paginate(
            StackSetName=args.stack_set_name, CallAs=call_as):
        summaries.extend(page["Summaries"])
    pairs = {(s["OrganizationalUnitId"], s["Region"]) for s in summaries
             if s.get("OrganizationalUnitId")}
    for ou in args.ous:
        accounts = set()
        for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=ou):
            accounts.update(a["Id"] for a in page["Accounts"])
        pairs.update((ou, s["Region"]) for s in summaries if s["Account"] in accounts)
    return pairs


def deploy_stack_set(cloudformation, organizations, s3, args, template_path, central_bus_arn,
                     call_as, log):
    """Creates or updates the StackSet, then adds the instances not yet there."""
    region = cloudformation.meta.region_name
    key = f"{args.s3_prefix}/{args.stack_set_name}-{int(time.time())}.json"
    aws("upload the template", s3.upload_file, Filename=str(template_path), Bucket=args.s3_bucket, Key=key)
    template_url = f"https://{args.s3_bucket}.s3.{region}.amazonaws.com/{key}"
    preferences = {
        "RegionConcurrencyType": "PARALLEL",
        "MaxConcurrentPercentage": args.max_concurrent_percentage,
        "FailureTolerancePercentage": args.failure_tolerance_percentage,
    }
    common = {
        "StackSetName": args.stack_set_name,
        "TemplateURL": template_url,
        "Parameters": parameters(args, central_bus_arn),
        "Capabilities": CAPABILITIES,
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "CallAs": call_as,
    }
    try:
        cloudformation.describe_stack_set(StackSetName=args.stack_set_name, CallAs=call_as)
        exists = True
    except botocore.exceptions.ClientError:
        exists = False
    if exists:
        existing = covered(cloudformation, organizations, args, call_as)
        operation = aws(f"update StackSet {args.stack_set_name}", cloudformation.update_stack_set,
                        **common, OperationPreferences=preferences,
                        DeploymentTargets={"OrganizationalUnitIds": sorted(
                            {ou for ou, _ in existing} or set(args.ous))},
                        Regions=sorted({r for _, r in existing} or set(args.regions)))
        log(f"StackSet {args.stack_set_name}: updating ({template_url})")
        wait_operation(cloudformation, args, operation["OperationId"], call_as, log)
        missing = [(ou, r) for ou in args.ous for r in args.regions if (ou, r) not in existing]
    else:
        aws(f"create StackSet {args.stack_set_name}", cloudformation.create_stack_set,
            **common, Description="License automation in every account of the organization "
            "(template.yaml; README.md, Deploy to an organization)")
        log(f"StackSet {args.stack_set_name}: created ({template_url})")
        missing = [(ou, r) for ou in args.ous for r in args.regions]
    new_ous = sorted({ou for ou, _ in missing})
    new_regions = sorted({r for _, r in missing})
    if new_ous:
        operation = aws("create stack instances", cloudformation.create_stack_instances,
                        StackSetName=args.stack_set_name, CallAs=call_as,
                        DeploymentTargets={"OrganizationalUnitIds": new_ous}, Regions=new_regions,
                        OperationPreferences=preferences)
        log(f"stack instances: {', '.join(new_ous)} in {', '.join(new_regions)}")
        wait_operation(cloudformation, args, operation["OperationId"], call_as, log)
    return template_url


def main(argv, session=None, log=print):
    args = parse_args(argv)
    session = session or boto3.session.Session()
    region = args.central_region or session.region_name
    if not region:
        print("deploy-org: no region: set AWS_REGION or pass --central-region", file=sys.stderr)
        return 2
    try:
        account = aws("sts get-caller-identity", session.client("sts", region_name=region)
                      .get_caller_identity)["Account"]
        organizations = session.client("organizations", region_name=region)
        organization = aws("organizations describe-organization",
                           organizations.describe_organization)["Organization"]
        call_as = args.call_as or ("SELF" if organization["MasterAccountId"] == account
                                   else "DELEGATED_ADMIN")
        log(f"organization {organization['Id']} (management account "
            f"{organization['MasterAccountId']}); deploying as {account}, CallAs {call_as}")
        cloudformation = session.client("cloudformation", region_name=region)
        outputs = deploy_central(cloudformation, args, organization["Id"], log)
        central_bus_arn = outputs["CentralEventBusArn"]
        log(f"central bus: {central_bus_arn}")
        with tempfile.TemporaryDirectory(prefix="deploy-org-") as work:
            template = package(args, region, Path(work), log)
            deploy_stack_set(cloudformation, organizations, session.client("s3", region_name=region),
                             args, template, central_bus_arn, call_as, log)
    except (DeployError, botocore.exceptions.ClientError) as error:
        print(f"deploy-org: {error}", file=sys.stderr)
        return 1
    log(json.dumps({"centralEventBusArn": central_bus_arn, "stackSet": args.stack_set_name,
                    "organizationalUnits": args.ous, "regions": args.regions,
                    "dashboardUrl": outputs.get("DashboardUrl")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
