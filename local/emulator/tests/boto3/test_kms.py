"""KMS signing keys, licenses signed by the issuer's key and STS GetCallerIdentity, the way
AWS's borrow sample uses them: boto3 for KMS, License Manager and STS, PyJWT to verify."""

import base64

import jwt
import pytest
from botocore.exceptions import ClientError

from helpers import CUSTOMER, ISV, REGION, error_of, fingerprint, now_iso, token, users


def public_key_pem(kms, key_id: str) -> str:
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    return f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(der).decode()}\n-----END PUBLIC KEY-----\n"


def create_signing_key(kms, spec: str = "RSA_2048") -> str:
    return kms.create_key(Description="license signing key", CustomerMasterKeySpec=spec,
                          KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]


def create_signed_license(lm, sign_key: str, sku: str = "signed-sku") -> str:
    return lm.create_license(
        LicenseName="My License",
        ProductName="My Product",
        Beneficiary="My Beneficiary",
        ConsumptionConfiguration={
            "ProvisionalConfiguration": {"MaxTimeToLiveInMinutes": 60},
            "BorrowConfiguration": {"MaxTimeToLiveInMinutes": 1440, "AllowEarlyCheckIn": True},
        },
        Entitlements=[users()],
        HomeRegion=REGION,
        Issuer={"Name": "Acme", "SignKey": sign_key},
        ProductSKU=sku,
        Validity={"Begin": "2021-04-12T00:00:00Z"},
        ClientToken=token(),
    )["LicenseArn"]


@pytest.fixture
def kms(emulator):
    return emulator.client(ISV, service="kms")


def test_tokens_verify_with_the_issuers_kms_key_and_no_other(emulator, isv, kms):
    key = create_signing_key(kms, "RSA_4096")
    pem = public_key_pem(kms, key)
    other_pem = public_key_pem(kms, create_signing_key(kms))
    arn = create_signed_license(isv, key)

    borrowed = isv.checkout_borrow_license(
        LicenseArn=arn, Entitlements=[{"Name": "Users", "Value": "1", "Unit": "Count"}],
        NodeId="MyNodeId", DigitalSignatureMethod="JWT_PS384", ClientToken=token())
    claims = jwt.decode(borrowed["SignedToken"], pem, algorithms=["PS384"])
    # The claims of AWS's borrow sample, times written as it shows them.
    assert set(claims) == {"licenseArn", "licenseConsumptionToken", "entitlementsAllowed",
                           "nodeId", "issuedAt", "expiration"}
    assert claims["licenseArn"] == arn
    assert len(claims["issuedAt"]) == len("2021-04-13T05:35:47")
    for wrong in (other_pem, emulator.public_key.read_text()):
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(borrowed["SignedToken"], wrong, algorithms=["PS384"])

    checkout = isv.checkout_license(
        ProductSKU="signed-sku", CheckoutType="PROVISIONAL", KeyFingerprint=fingerprint(),
        Entitlements=[{"Name": "Users", "Value": "1", "Unit": "Count"}], ClientToken=token())
    assert jwt.decode(checkout["SignedToken"], pem, algorithms=["PS384"])["licenseArn"] == arn
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(checkout["SignedToken"], other_pem, algorithms=["PS384"])


@pytest.mark.parametrize("kind", ["missing", "symmetric", "other account"])
def test_sign_key_is_refused_unless_an_rsa_signing_key_of_the_caller(emulator, isv, kms, kind):
    if kind == "missing":
        key = f"arn:aws:kms:{REGION}:{ISV}:key/00000000-0000-0000-0000-000000000000"
    elif kind == "symmetric":
        key = kms.create_key()["KeyMetadata"]["Arn"]
    else:
        key = create_signing_key(emulator.client(CUSTOMER, service="kms"))
    with pytest.raises(ClientError) as excinfo:
        create_signed_license(isv, key)
    assert error_of(excinfo) == ("InvalidParameterValueException", 400)
    assert "SignKey" in excinfo.value.response["Error"]["Message"]


def test_kms_sign_and_verify_round_trip(kms):
    key = create_signing_key(kms, "RSA_3072")
    for algorithm in ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                      "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                      "RSASSA_PKCS1_V1_5_SHA_512"):
        signature = kms.sign(KeyId=key, Message=b"license", SigningAlgorithm=algorithm)["Signature"]
        assert kms.verify(KeyId=key, Message=b"license", Signature=signature,
                          SigningAlgorithm=algorithm)["SignatureValid"]
        with pytest.raises(ClientError) as excinfo:
            kms.verify(KeyId=key, Message=b"other", Signature=signature, SigningAlgorithm=algorithm)
        assert error_of(excinfo) == ("KMSInvalidSignatureException", 400)


def test_unimplemented_kms_operations_say_so(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x")
    assert error_of(excinfo) == ("NotImplementedException", 400)
    assert "Encrypt" in excinfo.value.response["Error"]["Message"]


@pytest.mark.parametrize("account", [ISV, CUSTOMER, "444455556666"])
def test_get_caller_identity_answers_each_callers_account(emulator, account):
    identity = emulator.client(account, service="sts").get_caller_identity()
    assert identity["Account"] == account
    assert identity["Arn"] == f"arn:aws:iam::{account}:root"


def test_the_samples_fingerprint_from_sts_matches_license_manager(emulator):
    account = "444455556666"
    lm = emulator.client(account)
    lm.create_license(
        LicenseName="L", ProductName="P", ProductSKU="sts-sku", Beneficiary="B",
        ConsumptionConfiguration={"ProvisionalConfiguration": {"MaxTimeToLiveInMinutes": 60}},
        Entitlements=[users()], HomeRegion=REGION, Issuer={"Name": "Acme"},
        Validity={"Begin": now_iso()}, ClientToken=token())
    sts_account = emulator.client(account, service="sts").get_caller_identity()["Account"]
    lm.checkout_license(
        ProductSKU="sts-sku", CheckoutType="PROVISIONAL",
        KeyFingerprint=fingerprint(sts_account), ClientToken=token(),
        Entitlements=[{"Name": "Users", "Value": "1", "Unit": "Count"}])


def test_client_token_with_whitespace_is_refused(isv):
    with pytest.raises(ClientError) as excinfo:
        isv.checkout_borrow_license(
            LicenseArn=f"arn:aws:license-manager::{ISV}:license:l-0",
            Entitlements=[{"Name": "Users", "Value": "1", "Unit": "Count"}],
            DigitalSignatureMethod="JWT_PS384", ClientToken="has space")
    assert error_of(excinfo) == ("ValidationException", 400)


def test_exclusion_rules_of_the_sample_are_accepted_and_bad_filters_refused(isv):
    arn = isv.create_license_configuration(
        Name="exclusions", LicenseCountingType="Instance")["LicenseConfigurationArn"]
    isv.update_license_configuration(LicenseConfigurationArn=arn, ProductInformationList=[{
        "ResourceType": "SSM_MANAGED",
        "ProductInformationFilterList": [
            {"ProductInformationFilterName": "Tag:samplekey",
             "ProductInformationFilterValue": ["samplevalue"],
             "ProductInformationFilterComparator": "NOT_EQUALS"},
            {"ProductInformationFilterName": "Application Name",
             "ProductInformationFilterValue": ["windows"],
             "ProductInformationFilterComparator": "EQUALS"},
        ]}])
    for bad in ({"ResourceType": "EC2", "ProductInformationFilterList": []},
                {"ResourceType": "SSM_MANAGED", "ProductInformationFilterList": [
                    {"ProductInformationFilterName": "Tag:k", "ProductInformationFilterComparator": "EQUALS"}]},
                {"ResourceType": "RDS", "ProductInformationFilterList": [
                    {"ProductInformationFilterName": "Application Name",
                     "ProductInformationFilterValue": ["x"], "ProductInformationFilterComparator": "EQUALS"}]}):
        with pytest.raises(ClientError) as excinfo:
            isv.update_license_configuration(LicenseConfigurationArn=arn, ProductInformationList=[bad])
        assert error_of(excinfo) == ("InvalidParameterValueException", 400)
