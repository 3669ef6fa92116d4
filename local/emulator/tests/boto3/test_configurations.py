"""Self-managed license configurations: hard limits refuse, soft limits let usage exceed,
and the list filters the docs name find each kind."""

import pytest
from botocore.exceptions import ClientError

from helpers import CUSTOMER, error_of


def instance(n: int) -> str:
    return f"arn:aws:ec2:us-east-1:{CUSTOMER}:instance/i-{n:017x}"


def associate(client, configuration_arn: str, n: int) -> None:
    client.update_license_specifications_for_resource(
        ResourceArn=instance(n), AddLicenseSpecifications=[{"LicenseConfigurationArn": configuration_arn}],
    )


def test_hard_limit_refuses_an_association_past_the_count(customer):
    arn = customer.create_license_configuration(
        Name="hard", LicenseCountingType="Instance", LicenseCount=1, LicenseCountHardLimit=True,
    )["LicenseConfigurationArn"]
    associate(customer, arn, 1)
    with pytest.raises(ClientError) as excinfo:
        associate(customer, arn, 2)
    assert error_of(excinfo) == ("LicenseUsageException", 400)
    assert customer.get_license_configuration(LicenseConfigurationArn=arn)["ConsumedLicenses"] == 1
    # Re-associating a resource that already counts is not a new consumption.
    associate(customer, arn, 1)
    assert customer.get_license_configuration(LicenseConfigurationArn=arn)["ConsumedLicenses"] == 1


def test_soft_limit_lets_consumption_exceed_the_count(customer):
    arn = customer.create_license_configuration(
        Name="soft", LicenseCountingType="Instance", LicenseCount=1, LicenseCountHardLimit=False,
    )["LicenseConfigurationArn"]
    for n in (1, 2, 3):
        associate(customer, arn, n)
    got = customer.get_license_configuration(LicenseConfigurationArn=arn)
    assert (got["LicenseCount"], got["ConsumedLicenses"]) == (1, 3)
    associations = customer.list_associations_for_license_configuration(LicenseConfigurationArn=arn)
    assert sorted(a["ResourceArn"] for a in associations["LicenseConfigurationAssociations"]) == [
        instance(1), instance(2), instance(3)
    ]
    specifications = customer.list_license_specifications_for_resource(ResourceArn=instance(2))
    assert [s["LicenseConfigurationArn"] for s in specifications["LicenseSpecifications"]] == [arn]

    customer.update_license_specifications_for_resource(
        ResourceArn=instance(3), RemoveLicenseSpecifications=[{"LicenseConfigurationArn": arn}],
    )
    assert customer.get_license_configuration(LicenseConfigurationArn=arn)["ConsumedLicenses"] == 2


def test_list_filters_find_each_kind_of_configuration(customer):
    hard = customer.create_license_configuration(
        Name="hard", LicenseCountingType="Core", LicenseCount=4, LicenseCountHardLimit=True,
    )["LicenseConfigurationArn"]
    soft = customer.create_license_configuration(
        Name="soft", LicenseCountingType="vCPU", LicenseCount=1, LicenseCountHardLimit=False,
    )["LicenseConfigurationArn"]
    for n in (1, 2):
        associate(customer, soft, n)

    def names(name: str, value: str) -> list[str]:
        listed = customer.list_license_configurations(Filters=[{"Name": name, "Values": [value]}])
        return [c["LicenseConfigurationArn"] for c in listed["LicenseConfigurations"]]

    assert names("licenseCountingType", "vCPU") == [soft]
    assert names("enforceLicenseCount", "true") == [hard]
    assert names("usagelimitExceeded", "true") == [soft]


def test_a_configuration_is_private_to_its_account(emulator, customer):
    arn = customer.create_license_configuration(Name="mine", LicenseCountingType="Socket")["LicenseConfigurationArn"]
    with pytest.raises(ClientError) as excinfo:
        emulator.client("111122223333").get_license_configuration(LicenseConfigurationArn=arn)
    assert error_of(excinfo) == ("InvalidParameterValueException", 400)
