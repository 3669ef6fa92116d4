"""Creates the license the CheckoutLicense benchmark checks out: one unlimited entitlement
(Unit None) with a provisional configuration, issued by the default account as its own
beneficiary. Usage: seed.py ENDPOINT_URL ACCOUNT_ID; prints the license ARN."""

import sys
import uuid

import boto3

SKU = "bench-sku"
ISSUER = "Acme"


def main() -> None:
    endpoint, account = sys.argv[1], sys.argv[2]
    client = boto3.client(
        "license-manager", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=account, aws_secret_access_key="bench",
    )
    created = client.create_license(
        LicenseName="bench license",
        ProductName="bench product",
        ProductSKU=SKU,
        Beneficiary=account,
        ConsumptionConfiguration={"ProvisionalConfiguration": {"MaxTimeToLiveInMinutes": 60}},
        Entitlements=[{"Name": "Access", "Unit": "None", "Value": "Enabled"}],
        HomeRegion="us-east-1",
        Issuer={"Name": ISSUER},
        Validity={"Begin": "2026-01-01T00:00:00Z"},
        ClientToken=uuid.uuid4().hex,
    )
    # One checkout through boto3 proves the request the Lua script sends is served.
    client.checkout_license(
        ProductSKU=SKU, CheckoutType="PROVISIONAL",
        KeyFingerprint=f"aws:{account}:{ISSUER}:issuer-fingerprint",
        Entitlements=[{"Name": "Access", "Unit": "None"}],
        Beneficiary=account, ClientToken=uuid.uuid4().hex,
    )
    print(created["LicenseArn"])


if __name__ == "__main__":
    main()
