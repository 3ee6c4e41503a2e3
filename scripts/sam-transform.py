"""Writes the CloudFormation that the SAM transform makes of a template (no AWS call).

`make lint` runs cfn-lint on it: some errors exist only after the transform, such as a
dependency cycle through the role SAM generates for a function (cfn-lint E3004), which
`cfn-lint` and `sam validate --lint` on the source template do not see.

Local code and definition paths are replaced by placeholder S3 locations, as `sam package`
would replace them by real ones.

usage: sam-transform.py TEMPLATE OUTPUT
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER = {"Bucket": "placeholder-bucket", "Key": "placeholder-key"}
LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}


class NoManagedPolicies:
    """Managed policies are referenced by ARN in our templates; nothing to look up."""

    def load(self):
        return {}


def main(source, output):
    # The transform fills in pseudo-parameters from a region; no AWS call is made.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(source, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    for resource in (template.get("Resources") or {}).values():
        field = LOCAL_PATHS.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if field and isinstance(properties.get(field), str) and not properties[field].startswith("s3://"):
            properties[field] = dict(PLACEHOLDER)
    transformed = transform(template, {}, NoManagedPolicies())
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(transformed, handle, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
