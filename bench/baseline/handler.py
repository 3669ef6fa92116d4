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


def answer(status, body=None):
    """A payload 2.0 answer."""
    result = {"statusCode": status, "headers": {"content-type": "application/json"}}
    if body is not None:
        result["body"] = json.dumps(body, default=str)
    return result


def beneficiary_of(event):
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    return claims[os.environ.get("BENEFICIARY_CLAIM", "sub")]


def checkout(event):
    """POST /v1/checkout: CheckoutLicense for the caller's verified identity, then the state
    table's link of the consumption token to the caller."""
    beneficiary = beneficiary_of(event)
    body = json.loads(event["body"])
    result = license_manager.checkout_license(
        ProductSKU=body["productSku"],
        CheckoutType=body["checkoutType"],
        KeyFingerprint=os.environ["KEY_FINGERPRINT"],
        Entitlements=[
            {key[0].upper() + key[1:]: value for key, value in entitlement.items()}
            for entitlement in body["entitlements"]
        ],
        Beneficiary=beneficiary,
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
                "beneficiary": beneficiary,
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
    # The API's shape: checkout-proxy answers License Manager's result in camelCase.
    return answer(200, {key[0].lower() + key[1:]: value for key, value in result.items()})


def own_link(event):
    """The caller's token and the state table's link of it, or None when it is not theirs."""
    token = json.loads(event["body"])["licenseConsumptionToken"]
    item = dynamodb.get_item(
        TableName=os.environ["STATE_TABLE"], Key={"pk": {"S": f"lease#{token}"}}
    ).get("Item")
    if not item or json.loads(item["state"]["S"])["beneficiary"] != beneficiary_of(event):
        return token, None
    return token, item


def extend(event):
    """POST /v1/extend: ExtendLicenseConsumption of the caller's token, then its link's expiry."""
    token, item = own_link(event)
    if item is None:
        return answer(404, {"code": "not-found"})
    result = license_manager.extend_license_consumption(LicenseConsumptionToken=token)
    dynamodb.update_item(
        TableName=os.environ["STATE_TABLE"],
        Key={"pk": {"S": f"lease#{token}"}},
        UpdateExpression="SET #expiresAt = :expires",
        ExpressionAttributeNames={"#expiresAt": "expiresAt"},
        ExpressionAttributeValues={":expires": {"N": str(int(time.time()) + 3600 + 600)}},
    )
    return answer(200, {"licenseConsumptionToken": token, "expiration": result.get("Expiration")})


def check_in(event):
    """POST /v1/checkin: CheckInLicense of the caller's token, then its link is removed."""
    token, item = own_link(event)
    if item is None:
        return answer(404, {"code": "not-found"})
    license_manager.check_in_license(
        LicenseConsumptionToken=token, Beneficiary=beneficiary_of(event)
    )
    dynamodb.delete_item(TableName=os.environ["STATE_TABLE"], Key={"pk": {"S": f"lease#{token}"}})
    return answer(204)


ROUTES = {
    "POST /v1/checkout": checkout,
    "POST /v1/extend": extend,
    "POST /v1/checkin": check_in,
}


def checkout_proxy(event):
    """The checkout API's routes the benchmarks use (the benchmark's single event is a
    checkout, which carries no routeKey)."""
    route = ROUTES.get(event.get("routeKey", "POST /v1/checkout"))
    if route is None:
        return answer(404, {"message": "Not Found"})
    try:
        return route(event)
    except license_manager.exceptions.RateLimitExceededException:
        return answer(429, {"code": "rate-limited"})


HANDLERS = {
    "grant-acceptor": grant_acceptor,
    "soft-limit-monitor": soft_limit_monitor,
    "license-events": license_events,
    "checkout-proxy": checkout_proxy,
}
work = HANDLERS[FUNCTION]


def handler(event, context):
    return work(event)
