"""Cross-account grants: the ISV grants, only the customer accepts and activates (or rejects)."""

import pytest
from botocore.exceptions import ClientError

from helpers import CUSTOMER, ISV, checkout, consumed, create_license, error_of, token, users

OPERATIONS = ["CheckoutLicense", "CheckInLicense", "ExtendConsumptionLicense", "ListPurchasedLicenses"]


def grant(isv, license_arn: str, name: str = "Acme for customer") -> dict:
    return isv.create_grant(
        ClientToken=token(),
        GrantName=name,
        LicenseArn=license_arn,
        Principals=[f"arn:aws:iam::{CUSTOMER}:root"],
        HomeRegion="us-east-1",
        AllowedOperations=OPERATIONS,
    )


def test_grant_lifecycle_accept_then_activate(isv, customer):
    license_arn = create_license(isv, sku="acme-granted", beneficiary=CUSTOMER)["LicenseArn"]
    created = grant(isv, license_arn)
    grant_arn = created["GrantArn"]
    assert grant_arn.startswith(f"arn:aws:license-manager::{ISV}:grant:g-")
    assert created["Status"] == "PENDING_ACCEPT"
    assert created["Version"] == "1"

    received = customer.list_received_grants()["Grants"]
    mine = [g for g in received if g["GrantArn"] == grant_arn]
    assert len(mine) == 1
    assert mine[0]["GrantStatus"] == "PENDING_ACCEPT"
    assert mine[0]["LicenseArn"] == license_arn
    assert isv.list_received_grants()["Grants"] == []

    # The grantor may not accept its own grant.
    with pytest.raises(ClientError) as excinfo:
        isv.accept_grant(GrantArn=grant_arn)
    assert error_of(excinfo) == ("AccessDeniedException", 400)
    assert customer.get_grant(GrantArn=grant_arn)["Grant"]["GrantStatus"] == "PENDING_ACCEPT"

    # A pending grant conveys nothing yet.
    with pytest.raises(ClientError) as excinfo:
        checkout(customer, sku="acme-granted", beneficiary=None)
    assert error_of(excinfo) == ("ResourceNotFoundException", 400)

    accepted = customer.accept_grant(GrantArn=grant_arn)
    assert accepted["Status"] == "DISABLED"

    activated = customer.create_grant_version(GrantArn=grant_arn, Status="ACTIVE", ClientToken=token())
    assert activated["Status"] == "ACTIVE"
    assert activated["Version"] == "2"
    assert customer.get_grant(GrantArn=grant_arn)["Grant"]["GrantStatus"] == "ACTIVE"

    distributed = isv.list_distributed_grants(GrantArns=[grant_arn])["Grants"]
    assert [g["GrantStatus"] for g in distributed] == ["ACTIVE"]

    received_licenses = customer.list_received_licenses()["Licenses"]
    assert license_arn in [l["LicenseArn"] for l in received_licenses]

    # Now the customer checks out the ISV's product by SKU + fingerprint.
    out = checkout(customer, sku="acme-granted", beneficiary=None)
    assert out["LicenseArn"] == license_arn
    assert out["EntitlementsAllowed"][0]["Name"] == "Users"


def test_grant_rejected_by_grantee(isv, customer):
    license_arn = create_license(isv, sku="acme-rejected", beneficiary=CUSTOMER)["LicenseArn"]
    grant_arn = grant(isv, license_arn)["GrantArn"]

    with pytest.raises(ClientError) as excinfo:
        isv.reject_grant(GrantArn=grant_arn)
    assert error_of(excinfo) == ("AccessDeniedException", 400)

    assert customer.reject_grant(GrantArn=grant_arn)["Status"] == "REJECTED"
    assert customer.get_grant(GrantArn=grant_arn)["Grant"]["GrantStatus"] == "REJECTED"
    received = customer.list_received_grants(Filters=[{"Name": "GrantStatus", "Values": ["PENDING_ACCEPT"]}])
    assert grant_arn not in [g["GrantArn"] for g in received["Grants"]]
    with pytest.raises(ClientError):
        customer.accept_grant(GrantArn=grant_arn)


def test_unknown_grant_is_not_found(customer):
    with pytest.raises(ClientError) as excinfo:
        customer.get_grant(GrantArn=f"arn:aws:license-manager::{ISV}:grant:g-{'0' * 32}")
    # GetGrant's model lists no ResourceNotFoundException: an unknown ARN is an invalid value.
    assert error_of(excinfo) == ("InvalidParameterValueException", 400)


def test_a_granted_license_shares_its_counts_and_a_deleted_grant_revokes_it(isv, customer):
    license_arn = create_license(isv, sku="acme-shared", beneficiary=CUSTOMER, entitlements=[users(max_count=2)])["LicenseArn"]
    grant_arn = grant(isv, license_arn)["GrantArn"]
    customer.accept_grant(GrantArn=grant_arn)
    # Accepted but not yet activated (DISABLED): still nothing to check out.
    with pytest.raises(ClientError) as excinfo:
        checkout(customer, sku="acme-shared", beneficiary=None)
    assert error_of(excinfo) == ("ResourceNotFoundException", 400)
    customer.create_grant_version(GrantArn=grant_arn, Status="ACTIVE", ClientToken=token())

    checkout(customer, sku="acme-shared", beneficiary=None)
    checkout(customer, sku="acme-shared", beneficiary=None)
    assert consumed(isv, license_arn) == "2"
    with pytest.raises(ClientError) as excinfo:
        checkout(customer, sku="acme-shared", beneficiary=None)
    assert error_of(excinfo) == ("NoEntitlementsAllowedException", 400)

    assert isv.delete_grant(GrantArn=grant_arn, Version="2")["Status"] == "DELETED"
    with pytest.raises(ClientError) as excinfo:
        checkout(customer, sku="acme-shared", beneficiary=None)
    assert error_of(excinfo) == ("ResourceNotFoundException", 400)
