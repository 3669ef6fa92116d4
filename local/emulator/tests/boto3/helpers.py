"""Shared request builders of the boto3 suite (the shapes of AWS's Python samples)."""

from __future__ import annotations

import datetime
import uuid

import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ISV = "111122223333"
CUSTOMER = "123456789012"
ISSUER = "Acme"


def fingerprint(account: str = ISV, issuer: str = ISSUER) -> str:
    return f"aws:{account}:{issuer}:issuer-fingerprint"


def token() -> str:
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def users(max_count: int = 1000, overage: bool = False, allow_check_in: bool = True) -> dict:
    return {
        "Name": "Users",
        "Unit": "Count",
        "MaxCount": max_count,
        "Overage": overage,
        "AllowCheckIn": allow_check_in,
    }


def create_license(
    client,
    sku: str = "acme-sku",
    entitlements: list[dict] | None = None,
    beneficiary: str = ISV,
    borrow: bool = False,
    name: str = "Acme license",
    client_token: str | None = None,
    begin: str | None = None,
) -> dict:
    consumption: dict = {"ProvisionalConfiguration": {"MaxTimeToLiveInMinutes": 60}}
    if borrow:
        consumption["BorrowConfiguration"] = {"MaxTimeToLiveInMinutes": 1440, "AllowEarlyCheckIn": True}
    return client.create_license(
        LicenseName=name,
        ProductName="Acme product",
        ProductSKU=sku,
        Beneficiary=beneficiary,
        ConsumptionConfiguration=consumption,
        Entitlements=entitlements if entitlements is not None else [users()],
        HomeRegion=REGION,
        Issuer={"Name": ISSUER},
        Validity={"Begin": begin or now_iso()},
        LicenseMetadata=[{"Name": "ProductName", "Value": "Acme product"}],
        ClientToken=client_token or token(),
    )


def checkout(client, sku: str = "acme-sku", value: str = "1", beneficiary: str | None = ISV,
             checkout_type: str = "PROVISIONAL", client_token: str | None = None,
             entitlement: dict | None = None) -> dict:
    params = {
        "CheckoutType": checkout_type,
        "Entitlements": [entitlement or {"Name": "Users", "Unit": "Count", "Value": value}],
        "KeyFingerprint": fingerprint(),
        "ProductSKU": sku,
        "ClientToken": client_token or token(),
    }
    if beneficiary is not None:
        params["Beneficiary"] = beneficiary
    return client.checkout_license(**params)


def consumed(client, license_arn: str, name: str = "Users") -> str:
    usages = client.get_license_usage(LicenseArn=license_arn)["LicenseUsage"]["EntitlementUsages"]
    return next(u["ConsumedValue"] for u in usages if u["Name"] == name)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """(error code, HTTP status) of a ClientError."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
