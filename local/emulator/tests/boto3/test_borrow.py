"""CheckoutBorrowLicense returns a PS384 JWT that verifies with the --public-key-out key,
exactly as AWS's borrow sample verifies it with PyJWT."""

import jwt
import pytest
from botocore.exceptions import ClientError

from helpers import checkout, create_license, error_of, token


def borrow(client, license_arn: str) -> dict:
    return client.checkout_borrow_license(
        LicenseArn=license_arn,
        Entitlements=[{"Name": "Users", "Value": "1", "Unit": "Count"}],
        NodeId="MyNodeId",
        DigitalSignatureMethod="JWT_PS384",
        ClientToken=token(),
    )


def test_borrow_token_verifies_with_the_published_public_key(emulator, isv):
    arn = create_license(isv, sku="acme-borrow", borrow=True)["LicenseArn"]
    out = borrow(isv, arn)
    public_key = emulator.public_key.read_text()

    claims = jwt.decode(out["SignedToken"], public_key, algorithms=["PS384"])
    assert claims["licenseArn"] == arn
    assert claims["licenseConsumptionToken"] == out["LicenseConsumptionToken"]
    assert claims["entitlementsAllowed"] == [{"name": "Users", "value": "1", "unit": "Count"}]
    assert claims["nodeId"] == "MyNodeId"
    assert claims["issuedAt"] < claims["expiration"]

    header, payload, signature = out["SignedToken"].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, public_key, algorithms=["PS384"])


def test_borrow_needs_a_borrow_configuration(isv):
    arn = create_license(isv, sku="acme-no-borrow", borrow=False)["LicenseArn"]
    with pytest.raises(ClientError) as excinfo:
        borrow(isv, arn)
    assert error_of(excinfo) == ("NoEntitlementsAllowedException", 400)


def test_a_checkout_signed_token_verifies_too(emulator, isv):
    arn = create_license(isv, sku="acme-signed")["LicenseArn"]
    out = checkout(isv, sku="acme-signed")
    claims = jwt.decode(out["SignedToken"], emulator.public_key.read_text(), algorithms=["PS384"])
    assert claims["licenseArn"] == arn
    assert claims["licenseConsumptionToken"] == out["LicenseConsumptionToken"]
    assert claims["entitlementsAllowed"] == [{"name": "Users", "unit": "Count", "value": "1"}]
