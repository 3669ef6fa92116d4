#!/usr/bin/env python3
"""Writes the CloudFormation template SAM makes of a SAM template, offline.

Usage: sam-translate.py TEMPLATE OUTPUT.json

Runs aws-sam-translator (the library `sam deploy` and CloudFormation's transform use) without
AWS credentials: the only thing it would ask AWS for is the ARNs of managed policies named in
a function's Policies, and the template names none (its policies are statements and SAM policy
templates), so the policy loader answers from an empty list and a managed policy name fails
loudly instead of calling IAM. The output is what scripts/lint-template.sh lints with the
newest cfn-lint, which no longer looks inside the SAM transform itself.

Exit status: 0 when the template translated, 1 when SAM refused it (the reasons are printed),
2 on a usage or file error.
"""

import json
import sys

import boto3
import yaml
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that turns the short forms (!Ref, !Sub, ...) into their long forms."""


def _intrinsic(loader, suffix, node):
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    source, output = argv[1], argv[2]
    try:
        with open(source, encoding="utf-8") as file:
            template = yaml.load(file, Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError) as error:
        print(f"sam-translate: cannot read {source}: {error}", file=sys.stderr)
        return 2
    # `sam package` uploads each function's local CodeUri and writes its S3 location there;
    # the translator accepts only the latter, so a placeholder stands in for a local path (a
    # packaged template's s3:// locations are kept).
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        code_uri = properties.get("CodeUri")
        if (
            resource.get("Type") == "AWS::Serverless::Function"
            and isinstance(code_uri, str)
            and not code_uri.startswith("s3://")
        ):
            properties["CodeUri"] = f"s3://sam-package-placeholder/{logical_id}.zip"
    # The translator builds ARNs with the session's partition: a region is all it needs. An
    # empty managed-policy map: the template names no managed policy (one would fail here).
    session = boto3.session.Session(region_name="us-east-1")
    translator = Translator(None, Parser(), boto_session=session)
    try:
        translated = translator.translate(template, {}, get_managed_policy_map=dict)
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"sam-translate: {cause.message}", file=sys.stderr)
        return 1
    try:
        with open(output, "w", encoding="utf-8") as file:
            json.dump(translated, file, indent=1)
    except OSError as error:
        print(f"sam-translate: cannot write {output}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
