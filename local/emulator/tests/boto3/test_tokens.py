"""Tokens for customers without an AWS account: CreateToken, GetAccessToken, ListTokens,
DeleteToken. The access token is a PS384 JWT signed with the --public-key-out key."""

import jwt
import pytest
from botocore.exceptions import ClientError

from helpers import ISV, create_license, error_of, token


def test_token_lifecycle(emulator, isv):
    license_arn = create_license(isv, sku="acme-tokens")["LicenseArn"]
    created = isv.create_token(
        LicenseArn=license_arn, ClientToken=token(), ExpirationInDays=30,
        RoleArns=[f"arn:aws:iam::{ISV}:role/checkout"],
    )
    assert created["TokenType"] == "REFRESH_TOKEN"
    listed = isv.list_tokens()["Tokens"]
    assert [(t["TokenId"], t["LicenseArn"], t["Status"]) for t in listed] == [
        (created["TokenId"], license_arn, "AVAILABLE")
    ]

    access = isv.get_access_token(Token=created["Token"])["AccessToken"]
    claims = jwt.decode(access, emulator.public_key.read_text(), algorithms=["PS384"])
    assert claims["licenseArn"] == license_arn
    assert claims["roleArns"] == [f"arn:aws:iam::{ISV}:role/checkout"]

    isv.delete_token(TokenId=created["TokenId"])
    assert isv.list_tokens()["Tokens"] == []
    with pytest.raises(ClientError) as excinfo:
        isv.get_access_token(Token=created["Token"])
    assert error_of(excinfo) == ("AccessDeniedException", 400)


def test_a_token_not_issued_here_is_refused(isv):
    with pytest.raises(ClientError) as excinfo:
        isv.get_access_token(Token="not-a-refresh-token")
    assert error_of(excinfo) == ("ValidationException", 400)
