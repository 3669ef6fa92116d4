"""The boto3 baseline: what a user would otherwise write, as AWS's Python samples do.

At init (module import, as Lambda's Python runtime does before the first event) it creates the
clients the function it stands for creates; per event it makes the same License Manager calls
that function makes for the benchmark's event (bench/runner/src/cases.rs). BASELINE_OF names
the function. Endpoints, region and credentials come from the environment, as for the
function (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_LICENSE_MANAGER).
"""

import json
import os
import time
import uuid

import boto3

FUNCTION = os.environ["BASELINE_OF"]

license_manager = boto3.client("license-manager")
dynamodb = boto3.client("dynamodb")
events = boto3.client("events") if FUNCTION != "checkout-proxy" else None


def pages(operation, key, **params):
    """Every item of a paginated License Manager list (pages of 100, as the functions ask)."""
    items, token = [], None
    while True:
        if token:
            params["NextToken"] = token
        page = getattr(license_manager, operation)(MaxResults=100, **params)
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items


def grant_acceptor(event):
    """Scheduled sweep: the received grants still to act on."""
    grants = pages(
        "list_received_grants",
        "Grants",
        Filters=[{"Name": "GrantStatus", "Values": ["PENDING_ACCEPT", "DISABLED"]}],
    )
    return {"examined": len(grants)}


def soft_limit_monitor(event):
    """Scheduled sweep: license configurations, issued and received licenses."""
    configurations = pages("list_license_configurations", "LicenseConfigurations")
    licenses = pages("list_licenses", "Licenses") + pages("list_received_licenses", "Licenses")
    return {"configurations": len(configurations), "licenses": len(licenses)}


def license_events(event):
    """Scheduled expiry sweep: issued and received licenses."""
    licenses = pages("list_licenses", "Licenses") + pages("list_received_licenses", "Licenses")
    return {"licenses": len(licenses)}


def checkout_proxy(event):
    """POST /v1/checkout: CheckoutLicense for the caller's verified identity, then the state
    table's link of the consumption token to the caller."""
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    body = json.loads(event["body"])
    result = license_manager.checkout_license(
        ProductSKU=body["productSku"],
        CheckoutType=body["checkoutType"],
        KeyFingerprint=os.environ["KEY_FINGERPRINT"],
        Entitlements=[
            {key[0].upper() + key[1:]: value for key, value in entitlement.items()}
            for entitlement in body["entitlements"]
        ],
        Beneficiary=claims[os.environ.get("BENEFICIARY_CLAIM", "sub")],
        ClientToken=uuid.uuid4().hex,
    )
    result.pop("ResponseMetadata", None)
    # As checkout-proxy does: link the consumption token to its customer in the state table
    # (a conditional write, expiring a little after the checkout).
    now = int(time.time())
    dynamodb.put_item(
        TableName=os.environ["STATE_TABLE"],
        Item={
            "pk": {"S": f"lease#{result['LicenseConsumptionToken']}"},
            "state": {"S": json.dumps({
                "beneficiary": claims[os.environ.get("BENEFICIARY_CLAIM", "sub")],
                "licenseArn": result.get("LicenseArn", ""),
                "checkoutType": body["checkoutType"],
            })},
            "updatedAt": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))},
            "expiresAt": {"N": str(now + 3600 + 600)},
        },
        ConditionExpression="attribute_not_exists(#pk) OR #expiresAt <= :now",
        ExpressionAttributeNames={"#pk": "pk", "#expiresAt": "expiresAt"},
        ExpressionAttributeValues={":now": {"N": str(now)}},
    )
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(result, default=str),
    }


HANDLERS = {
    "grant-acceptor": grant_acceptor,
    "soft-limit-monitor": soft_limit_monitor,
    "license-events": license_events,
    "checkout-proxy": checkout_proxy,
}
work = HANDLERS[FUNCTION]


def handler(event, context):
    return work(event)
