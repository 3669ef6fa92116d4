"""Checkout counting: MaxCount, Overage, unlimited entitlements, PERPETUAL, idempotency, errors."""

import pytest
from botocore.exceptions import ClientError

from helpers import checkout, consumed, create_license, error_of, now_iso, token, users


def test_checkout_refuses_past_max_count_until_a_check_in(isv):
    arn = create_license(isv, sku="acme-two-seats", entitlements=[users(max_count=2)])["LicenseArn"]
    first = checkout(isv, sku="acme-two-seats")
    checkout(isv, sku="acme-two-seats")
    assert consumed(isv, arn) == "2"

    with pytest.raises(ClientError) as excinfo:
        checkout(isv, sku="acme-two-seats")
    assert error_of(excinfo) == ("NoEntitlementsAllowedException", 400)
    assert consumed(isv, arn) == "2"

    isv.check_in_license(LicenseConsumptionToken=first["LicenseConsumptionToken"])
    checkout(isv, sku="acme-two-seats")
    assert consumed(isv, arn) == "2"


def test_checkout_of_more_than_max_count_at_once_is_refused(isv):
    create_license(isv, sku="acme-five-seats", entitlements=[users(max_count=5)])
    with pytest.raises(ClientError) as excinfo:
        checkout(isv, sku="acme-five-seats", value="6")
    assert error_of(excinfo) == ("NoEntitlementsAllowedException", 400)


def test_overage_allows_consumption_past_max_count(isv):
    arn = create_license(isv, sku="acme-overage", entitlements=[users(max_count=1, overage=True)])["LicenseArn"]
    checkout(isv, sku="acme-overage")
    checkout(isv, sku="acme-overage")
    assert consumed(isv, arn) == "2"


def test_unlimited_entitlement_checks_out_without_counting_down(isv):
    feature = {"Name": "Reports", "Unit": "None", "Value": "Enabled"}
    create_license(isv, sku="acme-unlimited", entitlements=[feature])
    for _ in range(5):
        out = checkout(isv, sku="acme-unlimited", entitlement={"Name": "Reports", "Unit": "None"})
        assert out["EntitlementsAllowed"][0]["Name"] == "Reports"


def test_same_client_token_checks_out_once(isv):
    arn = create_license(isv, sku="acme-idempotent", entitlements=[users(max_count=10)])["LicenseArn"]
    same = token()
    first = checkout(isv, sku="acme-idempotent", client_token=same)
    again = checkout(isv, sku="acme-idempotent", client_token=same)
    assert again["LicenseConsumptionToken"] == first["LicenseConsumptionToken"]
    assert consumed(isv, arn) == "1"


def test_same_client_token_creates_one_license(isv):
    same, begin = token(), now_iso()
    # The same parameters (the Begin time fixed: a second boundary between the calls would
    # make it another request).
    first = create_license(isv, sku="acme-once", client_token=same, begin=begin)
    again = create_license(isv, sku="acme-once", client_token=same, begin=begin)
    assert again["LicenseArn"] == first["LicenseArn"]
    arns = [l["LicenseArn"] for l in isv.list_licenses()["Licenses"]]
    assert arns.count(first["LicenseArn"]) == 1


def test_perpetual_checkout_cannot_be_checked_in(isv):
    arn = create_license(isv, sku="acme-perpetual", entitlements=[users(max_count=3)])["LicenseArn"]
    out = checkout(isv, sku="acme-perpetual", checkout_type="PERPETUAL")
    assert consumed(isv, arn) == "1"
    with pytest.raises(ClientError) as excinfo:
        isv.check_in_license(LicenseConsumptionToken=out["LicenseConsumptionToken"])
    assert error_of(excinfo) == ("ValidationException", 400)
    assert consumed(isv, arn) == "1"


def test_check_in_happens_once(isv):
    create_license(isv, sku="acme-once-in")
    out = checkout(isv, sku="acme-once-in")
    isv.check_in_license(LicenseConsumptionToken=out["LicenseConsumptionToken"])
    with pytest.raises(ClientError) as excinfo:
        isv.check_in_license(LicenseConsumptionToken=out["LicenseConsumptionToken"])
    assert error_of(excinfo) == ("ConflictException", 400)


def test_checkout_errors_name_the_problem(isv):
    create_license(isv, sku="acme-errors")
    with pytest.raises(ClientError) as excinfo:
        checkout(isv, sku="no-such-sku")
    assert error_of(excinfo) == ("ResourceNotFoundException", 400)

    with pytest.raises(ClientError) as excinfo:
        checkout(isv, sku="acme-errors", entitlement={"Name": "NoSuchEntitlement", "Unit": "Count", "Value": "1"})
    assert error_of(excinfo) == ("NoEntitlementsAllowedException", 400)

    with pytest.raises(ClientError) as excinfo:
        isv.extend_license_consumption(LicenseConsumptionToken="not-a-token")
    assert error_of(excinfo) == ("ResourceNotFoundException", 400)
