"""scripts/deploy-org.py against moto's server: Organizations, CloudFormation StackSets,
EventBridge, S3 (run by `make test-deploy-org`).

A fake `sam build` output (the real template.yaml, each function's CodeUri a directory with a
bootstrap) stands in for the build, so the real `sam package` and SAM transform run.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml
import moto.events.models
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy-org.py"
REGION = "us-east-1"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, a short form (!Ref x) as its long form ({"Ref": x})."""


CloudFormationLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: {
        suffix if suffix == "Ref" else f"Fn::{suffix}": loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)})


def load_script():
    spec = importlib.util.spec_from_file_location("deploy_org", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def moto_server(monkeypatch):
    # moto's CloudFormation resolves `!Ref` of an AWS::Events::EventBus to the bus object, not
    # its name, and then fails creating a rule on it (`EventBusName: !Ref EventBus`, as the
    # template writes it and CloudFormation documents). The server runs in this process: the
    # rule gets the bus's name, as in AWS.
    normalize = moto.events.models.EventsBackend._normalize_event_bus_arn
    monkeypatch.setattr(moto.events.models.EventsBackend, "_normalize_event_bus_arn",
                        lambda self, bus: normalize(self, getattr(bus, "name", bus)))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # The server's state lives in this process: each test starts from none.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield endpoint
    server.stop()


@pytest.fixture()
def organization(moto_server):
    """An organization with one OU holding two member accounts, and the artifact bucket."""
    org = boto3.client("organizations", region_name=REGION)
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    members = []
    for name in ("member-a", "member-b"):
        account = org.create_account(AccountName=name, Email=f"{name}@example.com")[
            "CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        members.append(account)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="org-artifacts")
    return {"id": org_id, "ou": ou, "members": members}


@pytest.fixture()
def built(tmp_path):
    """What `sam build` writes: the template with each function's CodeUri a built directory."""
    source = (ROOT / "template.yaml").read_text(encoding="utf-8")
    functions = re.findall(r"^  (\w+):\n    Type: AWS::Serverless::Function", source, re.M)
    assert functions, "no function in template.yaml"
    for logical_id in functions:
        (tmp_path / logical_id).mkdir()
        bootstrap = tmp_path / logical_id / "bootstrap"
        bootstrap.write_bytes(b"\x7fELF fake bootstrap")
        bootstrap.chmod(0o755)
    names = iter(functions)
    built_template = re.sub(r"^(    Properties:\n(?:      .*\n)*?      CodeUri: )\.$",
                            lambda m: m.group(1) + next(names), source, flags=re.M)
    assert built_template.count("CodeUri: .\n") == 0, "a CodeUri was not replaced"
    path = tmp_path / "template.yaml"
    path.write_text(built_template, encoding="utf-8")
    return path


def record_calls(session):
    calls = []

    def before(params, model, **_):
        calls.append((model.service_model.service_name, model.name, params))

    session.events.register("before-parameter-build.*.*", before)
    return calls


def run(built_template, organization, *extra):
    session = boto3.session.Session(region_name=REGION)
    calls = record_calls(session)
    lines = []
    status = load_script().main(
        ["--organizational-unit", organization["ou"], "--region", REGION,
         "--s3-bucket", "org-artifacts", "--template-file", str(built_template),
         "--parameter", "DryRun=true", "--timeout", "60", *extra],
        session=session, log=lines.append)
    return status, calls, lines


def named(calls, operation):
    return [params for _, name, params in calls if name == operation]


def test_it_deploys_the_central_stack_and_a_service_managed_stack_set(built, organization):
    status, calls, lines = run(built, organization)
    assert status == 0, lines

    # The central stack: its bus admits the organization, and its ARN reaches the members.
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    central = cloudformation.describe_stacks(StackName="license-automation-central")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in central["Outputs"]}
    bus_arn = outputs["CentralEventBusArn"]
    assert bus_arn.endswith(":event-bus/license-automation-central")
    boto3.client("events", region_name=REGION).describe_event_bus(
        Name="license-automation-central")
    (create_central,) = named(calls, "CreateStack")
    assert {"ParameterKey": "OrganizationId", "ParameterValue": organization["id"]} in \
        create_central["Parameters"]
    # moto's CloudFormation does not apply AWS::Events::EventBusPolicy: the template it was
    # given is checked instead.
    central_template = yaml.load(create_central["TemplateBody"], Loader=CloudFormationLoader)
    (policy,) = [r["Properties"] for r in central_template["Resources"].values()
                 if r["Type"] == "AWS::Events::EventBusPolicy"]
    assert policy["Statement"]["Action"] == "events:PutEvents"
    assert policy["Statement"]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}

    # The StackSet: service-managed, deploying automatically, the plain (transformed)
    # template, the central bus as a parameter.
    (create,) = named(calls, "CreateStackSet")
    assert create["PermissionModel"] == "SERVICE_MANAGED"
    assert create["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert create["CallAs"] == "SELF"
    assert {"ParameterKey": "CentralEventBusArn", "ParameterValue": bus_arn} in create["Parameters"]
    assert {"ParameterKey": "DryRun", "ParameterValue": "true"} in create["Parameters"]
    assert "CAPABILITY_IAM" in create["Capabilities"]
    key = create["TemplateURL"].split(".amazonaws.com/", 1)[1]
    template = json.loads(boto3.client("s3", region_name=REGION)
                          .get_object(Bucket="org-artifacts", Key=key)["Body"].read())
    assert "Transform" not in template
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::Lambda::Function" in types
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert "CentralForwardRule" in template["Resources"]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["Code"]["S3Bucket"] == "org-artifacts"

    # Its instances: the OU in the region, one stack per member account.
    (instances,) = named(calls, "CreateStackInstances")
    assert instances["DeploymentTargets"] == {"OrganizationalUnitIds": [organization["ou"]]}
    assert instances["Regions"] == [REGION]
    summaries = cloudformation.list_stack_instances(StackSetName="license-automation")["Summaries"]
    assert sorted(s["Account"] for s in summaries) == sorted(organization["members"])
    assert {s["Region"] for s in summaries} == {REGION}


def test_a_second_run_updates_instead_of_creating(built, organization):
    assert run(built, organization)[0] == 0
    status, calls, lines = run(built, organization)
    assert status == 0, lines
    assert not named(calls, "CreateStack") and not named(calls, "CreateStackSet")
    (update,) = named(calls, "UpdateStackSet")
    assert update["PermissionModel"] == "SERVICE_MANAGED"
    assert update["DeploymentTargets"] == {"OrganizationalUnitIds": [organization["ou"]]}
    assert not named(calls, "CreateStackInstances")


def test_help_documents_every_input():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0
    for option in ("--organizational-unit", "--region", "--s3-bucket", "--s3-prefix",
                   "--template-file", "--stack-set-name", "--central-stack-name",
                   "--central-region", "--alert-email", "--parameter", "--call-as",
                   "--max-concurrent-percentage", "--failure-tolerance-percentage", "--timeout"):
        assert option in result.stdout, option


def test_bad_input_is_refused_naming_it(built):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--organizational-unit", "workloads", "--region", REGION,
         "--s3-bucket", "b", "--template-file", str(built)],
        capture_output=True, text=True, check=False, env=dict(os.environ))
    assert result.returncode == 2
    assert "'workloads' is not an OU id" in result.stderr
