"""The flows of AWS's Python samples (seeds 000 and 001), unchanged in shape, against the binary."""

import re

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from conftest import REPO
from helpers import ISV, checkout, consumed, create_license, error_of, fingerprint


def test_managed_entitlements_sample_flow(isv):
    created = create_license(isv, sku="TestProductSKU1", entitlements=[{
        "Name": "Users", "Unit": "Count", "MaxCount": 1000, "AllowCheckIn": True,
    }])
    arn = created["LicenseArn"]
    assert arn.startswith(f"arn:aws:license-manager::{ISV}:license:l-")
    assert created["Status"] == "AVAILABLE"
    assert created["Version"] == "1"

    license_ = isv.get_license(LicenseArn=arn)["License"]
    assert license_["ProductSKU"] == "TestProductSKU1"
    assert license_["Issuer"]["KeyFingerprint"] == fingerprint()
    assert license_["Entitlements"][0]["MaxCount"] == 1000

    out = checkout(isv, sku="TestProductSKU1")
    assert out["CheckoutType"] == "PROVISIONAL"
    assert out["LicenseArn"] == arn
    assert out["EntitlementsAllowed"] == [{"Name": "Users", "Unit": "Count", "Value": "1"}]
    assert consumed(isv, arn) == "1"

    extended = isv.extend_license_consumption(LicenseConsumptionToken=out["LicenseConsumptionToken"])
    assert extended["LicenseConsumptionToken"] == out["LicenseConsumptionToken"]
    assert extended["Expiration"] >= out["Expiration"]

    isv.check_in_license(LicenseConsumptionToken=out["LicenseConsumptionToken"])
    assert consumed(isv, arn) == "0"

    with pytest.raises(ClientError) as excinfo:
        isv.delete_license(LicenseArn=arn, SourceVersion="2")
    assert error_of(excinfo) == ("ConflictException", 400)

    deleted = isv.delete_license(LicenseArn=arn, SourceVersion="1")
    assert deleted["Status"] in ("PENDING_DELETE", "DELETED")
    # A deleted license no longer serves checkouts.
    with pytest.raises(ClientError) as excinfo:
        checkout(isv, sku="TestProductSKU1")
    assert error_of(excinfo) == ("ResourceNotFoundException", 400)
    assert isv.get_license(LicenseArn=arn)["License"]["Status"] == "DELETED"


def test_self_managed_sample_flow(customer):
    created = customer.create_license_configuration(
        Name="TestLicenseConfiguration_1",
        Description="My Sample License Configuration",
        LicenseCountingType="Instance",
        LicenseCount=123,
        LicenseCountHardLimit=True,
    )
    arn = created["LicenseConfigurationArn"]
    assert arn.startswith("arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-")

    got = customer.get_license_configuration(LicenseConfigurationArn=arn)
    assert got["Name"] == "TestLicenseConfiguration_1"
    assert got["LicenseCountingType"] == "Instance"
    assert got["LicenseCount"] == 123
    assert got["LicenseCountHardLimit"] is True
    assert got["ConsumedLicenses"] == 0

    instance = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
    customer.update_license_specifications_for_resource(
        ResourceArn=instance, AddLicenseSpecifications=[{"LicenseConfigurationArn": arn}]
    )
    inventory = customer.list_resource_inventory()["ResourceInventoryList"]
    assert instance in [r["ResourceArn"] for r in inventory]
    customer.update_license_specifications_for_resource(
        ResourceArn=instance, RemoveLicenseSpecifications=[{"LicenseConfigurationArn": arn}]
    )

    product = [{
        "ResourceType": "SSM_MANAGED",
        "ProductInformationFilterList": [{
            "ProductInformationFilterName": "Application Name",
            "ProductInformationFilterValue": ["Amazon EC2Launch"],
            "ProductInformationFilterComparator": "EQUALS",
        }],
    }]
    customer.update_license_configuration(LicenseConfigurationArn=arn, ProductInformationList=product)
    assert customer.get_license_configuration(LicenseConfigurationArn=arn)["ProductInformationList"] == product

    customer.delete_license_configuration(LicenseConfigurationArn=arn)
    listed = customer.list_license_configurations()["LicenseConfigurations"]
    assert arn not in [c["LicenseConfigurationArn"] for c in listed]


def not_implemented_without_required_members(client) -> list[str]:
    """Operations docs/emulator-coverage.md lists as not implemented that need no input."""
    table = (REPO / "docs/emulator-coverage.md").read_text()
    names = re.findall(r"^\| (\w+) \| not implemented \|", table, flags=re.MULTILINE)
    model = client.meta.service_model
    return [n for n in names if not model.operation_model(n).input_shape.required_members]


def test_an_operation_not_emulated_says_so_instead_of_faking_success(customer):
    operations = not_implemented_without_required_members(customer)
    assert operations, "every operation is emulated now: point this test at an unknown target"
    for operation in operations:
        with pytest.raises(ClientError) as excinfo:
            getattr(customer, xform_name(operation))()
        assert error_of(excinfo) == ("NotImplementedException", 400)
        assert operation in excinfo.value.response["Error"]["Message"]
