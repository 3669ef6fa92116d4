//! KMS signing keys, licenses signed by the issuer's key, STS GetCallerIdentity and the
//! validation AWS does, through the real AWS SDKs over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_config::BehaviorVersion;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_licensemanager::types::{
    BorrowConfiguration, CheckoutType, ConsumptionConfiguration, DigitalSignatureMethod, Issuer,
    LicenseCountingType, ProductInformation, ProductInformationFilter,
};
use base64::Engine as _;
use common::*;
use license_manager_local::Config;

async fn sdk_config(endpoint: &str, account: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            account, "secret", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

async fn kms(h: &Harness, account: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(&h.emulator.endpoint_url(), account).await)
}

async fn sts(h: &Harness, account: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(&h.emulator.endpoint_url(), account).await)
}

/// Creates a key of `spec` and `usage`; returns its ARN.
async fn create_key(kms: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let out = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .description("license signing key")
        .send()
        .await
        .unwrap();
    out.key_metadata().unwrap().arn().unwrap().to_string()
}

/// The key's public key as the PEM document AWS's borrow sample builds from GetPublicKey.
async fn public_key_pem(kms: &aws_sdk_kms::Client, key: &str) -> String {
    let out = kms.get_public_key().key_id(key).send().await.unwrap();
    let der = out.public_key().unwrap().as_ref();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// The claims of `token` when it is a PS384 JWT verifying with `pem`.
fn verify_ps384(token: &str, pem: &str) -> Option<serde_json::Value> {
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS384);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .ok()
        .map(|d| d.claims)
}

fn borrow_and_provisional() -> ConsumptionConfiguration {
    ConsumptionConfiguration::builder()
        .borrow_configuration(
            BorrowConfiguration::builder()
                .allow_early_check_in(true)
                .max_time_to_live_in_minutes(1440)
                .build()
                .unwrap(),
        )
        .provisional_configuration(
            aws_sdk_licensemanager::types::ProvisionalConfiguration::builder()
                .max_time_to_live_in_minutes(60)
                .build()
                .unwrap(),
        )
        .build()
}

/// A CreateLicense issued by "Acme" signing with `sign_key`, as AWS's borrow sample does.
fn signed_license(
    client: &aws_sdk_licensemanager::Client,
    sku: &str,
    sign_key: &str,
) -> aws_sdk_licensemanager::operation::create_license::builders::CreateLicenseFluentBuilder {
    client
        .create_license()
        .license_name("My License")
        .product_name("My Product")
        .product_sku(sku)
        .beneficiary("My Beneficiary")
        .issuer(
            Issuer::builder()
                .name("Acme")
                .sign_key(sign_key)
                .build()
                .unwrap(),
        )
        .home_region("us-east-1")
        .validity(valid_from_2025(None))
        .entitlements(counted("Users", 1000, false))
        .consumption_configuration(borrow_and_provisional())
        .client_token(uuid::Uuid::new_v4().simple().to_string())
}

#[tokio::test]
async fn tokens_of_a_license_with_a_sign_key_verify_with_that_key_only() {
    let own_key = std::env::temp_dir().join(format!("lml-own-{}.pem", uuid::Uuid::new_v4()));
    let h = Harness::with_config(Config {
        public_key_out: Some(own_key.clone()),
        ..Config::default()
    })
    .await;
    let kms = kms(&h, ISV).await;
    let lm = h.client(ISV).await;
    let key = create_key(&kms, KeySpec::Rsa4096, KeyUsageType::SignVerify).await;
    let other = create_key(&kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let pem = public_key_pem(&kms, &key).await;
    let other_pem = public_key_pem(&kms, &other).await;
    let own_pem = std::fs::read_to_string(&own_key).unwrap();

    let license = signed_license(&lm, "signed-sku", &key)
        .send()
        .await
        .unwrap()
        .license_arn
        .unwrap();
    let borrowed = lm
        .checkout_borrow_license()
        .license_arn(&license)
        .entitlements(users(1))
        .node_id("MyNodeId")
        .digital_signature_method(DigitalSignatureMethod::JwtPs384)
        .client_token("borrow1")
        .send()
        .await
        .unwrap();
    let token = borrowed.signed_token().unwrap();
    let claims = verify_ps384(token, &pem).expect("the borrow token verifies with the SignKey");
    assert_eq!(claims["licenseArn"], license.as_str());
    assert_eq!(claims["nodeId"], "MyNodeId");
    // The claims of AWS's borrow sample, times as it shows them.
    let mut names: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "entitlementsAllowed",
            "expiration",
            "issuedAt",
            "licenseArn",
            "licenseConsumptionToken",
            "nodeId"
        ]
    );
    assert_eq!(claims["issuedAt"], "2026-01-01T00:00:00");
    assert_eq!(claims["expiration"], "2026-01-02T00:00:00");
    assert!(verify_ps384(token, &other_pem).is_none());
    assert!(verify_ps384(token, &own_pem).is_none());

    let checkout = checkout_request(&lm, "signed-sku", CheckoutType::Provisional, users(1))
        .client_token("checkout1")
        .send()
        .await
        .unwrap();
    let token = checkout.signed_token().unwrap();
    assert!(verify_ps384(token, &pem).is_some());
    assert!(verify_ps384(token, &other_pem).is_none());
    assert!(verify_ps384(token, &own_pem).is_none());

    // A license without SignKey keeps the emulator's own key.
    users_license(&lm, "plain-sku", 5).await;
    let plain = checkout_request(&lm, "plain-sku", CheckoutType::Provisional, users(1))
        .client_token("checkout2")
        .send()
        .await
        .unwrap();
    assert!(verify_ps384(plain.signed_token().unwrap(), &own_pem).is_some());
    assert!(verify_ps384(plain.signed_token().unwrap(), &pem).is_none());
    let _ = std::fs::remove_file(own_key);
}

#[tokio::test]
async fn a_grantee_checkout_is_signed_by_the_issuers_key() {
    let h = Harness::start().await;
    let kms = kms(&h, ISV).await;
    let isv = h.client(ISV).await;
    let customer = h.client(CUSTOMER).await;
    let key = create_key(&kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let pem = public_key_pem(&kms, &key).await;
    let license = signed_license(&isv, "granted-sku", &key)
        .send()
        .await
        .unwrap()
        .license_arn
        .unwrap();
    let grant = grant_request(
        &isv,
        &license,
        &format!("arn:aws:iam::{CUSTOMER}:root"),
        "g1",
    )
    .send()
    .await
    .unwrap()
    .grant_arn
    .unwrap();
    accept_grant(&customer, &grant).await.unwrap();
    set_grant_status(
        &customer,
        &grant,
        "activate",
        aws_sdk_licensemanager::types::GrantStatus::Active,
    )
    .await
    .unwrap();
    let out = checkout_request(
        &customer,
        "granted-sku",
        CheckoutType::Provisional,
        users(1),
    )
    .client_token("c1")
    .send()
    .await
    .unwrap();
    assert!(verify_ps384(out.signed_token().unwrap(), &pem).is_some());
}

#[tokio::test]
async fn sign_key_must_be_an_rsa_signing_key_of_the_caller() {
    let h = Harness::start().await;
    let isv_kms = kms(&h, ISV).await;
    let lm = h.client(ISV).await;
    let symmetric = create_key(
        &isv_kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let encrypting = create_key(&isv_kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let foreign = create_key(
        &kms(&h, CUSTOMER).await,
        KeySpec::Rsa2048,
        KeyUsageType::SignVerify,
    )
    .await;
    let missing = format!("arn:aws:kms:us-east-1:{ISV}:key/{}", uuid::Uuid::new_v4());
    for (what, key) in [
        ("no key", missing.as_str()),
        ("a symmetric key", symmetric.as_str()),
        ("an encryption key", encrypting.as_str()),
        ("a key of another account", foreign.as_str()),
        ("not an ARN", "no-such-key"),
    ] {
        let err = signed_license(&lm, "sku", key).send().await.unwrap_err();
        assert_eq!(code(&err), "InvalidParameterValueException", "{what}");
        assert!(
            message(&err).contains("SignKey"),
            "{what}: {}",
            message(&err)
        );
    }
    // A key id and an alias name are accepted as well as the ARN.
    let good = create_key(&isv_kms, KeySpec::Rsa3072, KeyUsageType::SignVerify).await;
    let key_id = good.rsplit('/').next().unwrap().to_string();
    isv_kms
        .create_alias()
        .alias_name("alias/license-signing")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    for key in [key_id.as_str(), "alias/license-signing"] {
        signed_license(&lm, "sku", key).send().await.unwrap();
    }
    // CreateLicenseVersion checks it too.
    let license = signed_license(&lm, "sku", &good)
        .send()
        .await
        .unwrap()
        .license_arn
        .unwrap();
    let err = lm
        .create_license_version()
        .license_arn(&license)
        .license_name("v2")
        .product_name("My Product")
        .issuer(
            Issuer::builder()
                .name("Acme")
                .sign_key(&symmetric)
                .build()
                .unwrap(),
        )
        .home_region("us-east-1")
        .validity(valid_from_2025(None))
        .entitlements(counted("Users", 10, false))
        .consumption_configuration(borrow_and_provisional())
        .status(aws_sdk_licensemanager::types::LicenseStatus::Available)
        .source_version("1")
        .client_token("v2")
        .send()
        .await
        .unwrap_err();
    // CreateLicenseVersion declares no InvalidParameterValueException.
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("SignKey"));
}

#[tokio::test]
async fn kms_signs_and_verifies_with_every_rsa_algorithm() {
    let h = Harness::start().await;
    let kms = kms(&h, ISV).await;
    let key = create_key(&kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let described = kms.describe_key().key_id(&key).send().await.unwrap();
    let meta = described.key_metadata().unwrap();
    assert_eq!(meta.aws_account_id(), Some(ISV));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::SignVerify));
    assert_eq!(meta.signing_algorithms().len(), 6);
    let public = kms.get_public_key().key_id(&key).send().await.unwrap();
    assert_eq!(public.key_id(), Some(key.as_str()));
    assert_eq!(public.key_spec(), Some(&KeySpec::Rsa2048));
    let spki = public.public_key().unwrap().as_ref().to_vec();
    for algorithm in [
        SigningAlgorithmSpec::RsassaPssSha256,
        SigningAlgorithmSpec::RsassaPssSha384,
        SigningAlgorithmSpec::RsassaPssSha512,
        SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        SigningAlgorithmSpec::RsassaPkcs1V15Sha384,
        SigningAlgorithmSpec::RsassaPkcs1V15Sha512,
    ] {
        let signed = kms
            .sign()
            .key_id(&key)
            .message(Blob::new("a license"))
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        let signature = signed.signature().unwrap().clone();
        // The signature verifies outside KMS (PSS with salt = digest length).
        let params: &aws_lc_rs::signature::RsaParameters = match algorithm {
            SigningAlgorithmSpec::RsassaPssSha256 => {
                &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256
            }
            SigningAlgorithmSpec::RsassaPssSha384 => {
                &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA384
            }
            SigningAlgorithmSpec::RsassaPssSha512 => {
                &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA512
            }
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256 => {
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256
            }
            SigningAlgorithmSpec::RsassaPkcs1V15Sha384 => {
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA384
            }
            _ => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512,
        };
        aws_lc_rs::signature::UnparsedPublicKey::new(params, &spki)
            .verify(b"a license", signature.as_ref())
            .unwrap_or_else(|_| panic!("{algorithm:?} verifies with the public key"));
        let verified = kms
            .verify()
            .key_id(&key)
            .message(Blob::new("a license"))
            .signature(signature.clone())
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        assert!(verified.signature_valid());
        let err = kms
            .verify()
            .key_id(&key)
            .message(Blob::new("another license"))
            .signature(signature)
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "KMSInvalidSignatureException");
    }
    // A DIGEST message signs the same as its RAW message.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"a license");
    let signed = kms
        .sign()
        .key_id(&key)
        .message(Blob::new(digest.as_ref()))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await
        .unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256,
        &spki,
    )
    .verify(b"a license", signed.signature().unwrap().as_ref())
    .unwrap();
}

#[tokio::test]
async fn kms_refuses_what_aws_refuses() {
    let h = Harness::start().await;
    let kms = kms(&h, ISV).await;
    let symmetric = create_key(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let err = kms
        .sign()
        .key_id(&symmetric)
        .message(Blob::new("m"))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
    let err = kms
        .get_public_key()
        .key_id(&symmetric)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = kms
        .create_key()
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = kms
        .describe_key()
        .key_id("alias/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    // The region of a key ARN counts: the key lives in the emulator's region only.
    let err = kms
        .describe_key()
        .key_id(symmetric.replace("us-east-1", "eu-west-1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    // A key of another account is not found.
    let err = self::kms(&h, CUSTOMER)
        .await
        .describe_key()
        .key_id(&symmetric)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    // An operation the emulator does not implement says so.
    let err = kms
        .encrypt()
        .key_id(&symmetric)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotImplementedException");
    assert!(message(&err).contains("Encrypt"));
}

#[tokio::test]
async fn keys_and_aliases_are_listed_per_account_in_pages() {
    let h = Harness::start().await;
    let kms = kms(&h, ISV).await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            create_key(
                &kms,
                KeySpec::SymmetricDefault,
                KeyUsageType::EncryptDecrypt,
            )
            .await,
        );
    }
    create_key(
        &self::kms(&h, CUSTOMER).await,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let first = kms.list_keys().limit(2).send().await.unwrap();
    assert!(first.truncated());
    let second = kms
        .list_keys()
        .limit(2)
        .marker(first.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert!(!second.truncated());
    let listed: Vec<String> = first
        .keys()
        .iter()
        .chain(second.keys())
        .map(|k| k.key_arn().unwrap().to_string())
        .collect();
    assert_eq!(listed, created);
    kms.create_alias()
        .alias_name("alias/signing")
        .target_key_id(&created[0])
        .send()
        .await
        .unwrap();
    let err = kms
        .create_alias()
        .alias_name("alias/signing")
        .target_key_id(&created[1])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AlreadyExistsException");
    let by_alias = kms
        .describe_key()
        .key_id("alias/signing")
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_alias.key_metadata().unwrap().arn(),
        Some(created[0].as_str())
    );
    let aliases = kms.list_aliases().send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    kms.delete_alias()
        .alias_name("alias/signing")
        .send()
        .await
        .unwrap();
    assert!(
        kms.list_aliases()
            .send()
            .await
            .unwrap()
            .aliases()
            .is_empty()
    );
}

#[tokio::test]
async fn keys_survive_a_restart_with_the_state_file() {
    let path = std::env::temp_dir().join(format!("lml-kms-{}.json", uuid::Uuid::new_v4()));
    let h = Harness::with_state_file(&path).await;
    let client = kms(&h, ISV).await;
    let key = create_key(&client, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let pem = public_key_pem(&client, &key).await;
    h.emulator.shutdown().await;
    let h = Harness::with_state_file(&path).await;
    let client = kms(&h, ISV).await;
    assert_eq!(public_key_pem(&client, &key).await, pem);
    let lm = h.client(ISV).await;
    let license = signed_license(&lm, "sku", &key)
        .send()
        .await
        .unwrap()
        .license_arn
        .unwrap();
    let out = lm
        .checkout_borrow_license()
        .license_arn(&license)
        .entitlements(users(1))
        .digital_signature_method(DigitalSignatureMethod::JwtPs384)
        .client_token("b1")
        .send()
        .await
        .unwrap();
    assert!(verify_ps384(out.signed_token().unwrap(), &pem).is_some());
    h.emulator.shutdown().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn get_caller_identity_answers_the_account_license_manager_sees() {
    let h = Harness::start().await;
    for account in [ISV, CUSTOMER, "123456789012"] {
        let out = sts(&h, account)
            .await
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(out.account(), Some(account));
        assert_eq!(
            out.arn(),
            Some(format!("arn:aws:iam::{account}:root").as_str())
        );
    }
    // A key id that is not 12 digits is the default account, as for License Manager.
    let out = sts(&h, "AKIAEXAMPLE")
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(out.account(), Some("123456789012"));
    // The samples build KeyFingerprint from GetCallerIdentity: as 111122223333 it matches.
    let account = sts(&h, ISV)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .account
        .unwrap();
    let lm = h.client(ISV).await;
    users_license(&lm, "fp-sku", 2).await;
    lm.checkout_license()
        .product_sku("fp-sku")
        .checkout_type(CheckoutType::Provisional)
        .key_fingerprint(format!("aws:{account}:Acme:issuer-fingerprint"))
        .entitlements(users(1))
        .client_token("fp1")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn client_tokens_must_match_the_documented_pattern() {
    let h = Harness::start().await;
    let lm = h.client(ISV).await;
    users_license(&lm, "ct-sku", 2).await;
    for token in ["with space", " "] {
        let err = checkout_request(&lm, "ct-sku", CheckoutType::Provisional, users(1))
            .client_token(token)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{token:?}");
        assert!(message(&err).contains("clientToken"));
    }
}

fn filter(name: &str, comparator: &str, values: &[&str]) -> ProductInformationFilter {
    ProductInformationFilter::builder()
        .product_information_filter_name(name)
        .product_information_filter_comparator(comparator)
        .set_product_information_filter_value(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
        .unwrap()
}

fn product(resource_type: &str, filters: Vec<ProductInformationFilter>) -> ProductInformation {
    ProductInformation::builder()
        .resource_type(resource_type)
        .set_product_information_filter_list(Some(filters))
        .build()
        .unwrap()
}

#[tokio::test]
async fn product_information_is_checked_as_documented() {
    let h = Harness::start().await;
    let lm = h.client(ISV).await;
    let arn = lm
        .create_license_configuration()
        .name("exclusions")
        .license_counting_type(LicenseCountingType::Instance)
        .send()
        .await
        .unwrap()
        .license_configuration_arn
        .unwrap();
    let update = |p: ProductInformation| {
        lm.update_license_configuration()
            .license_configuration_arn(&arn)
            .product_information_list(p)
            .send()
    };
    // AWS's exclusion-rules sample.
    update(product(
        "SSM_MANAGED",
        vec![
            filter("Tag:samplekey", "NOT_EQUALS", &["samplevalue"]),
            filter("Application Name", "EQUALS", &["windows"]),
        ],
    ))
    .await
    .unwrap();
    update(product(
        "RDS",
        vec![filter("Engine Edition", "EQUALS", &["oracle-ee"])],
    ))
    .await
    .unwrap();
    update(product(
        "SSM_MANAGED",
        vec![filter("AccountId", "NOT_EQUALS", &["444455556666"])],
    ))
    .await
    .unwrap();
    for (what, p) in [
        (
            "resource type",
            product("EC2", vec![filter("Application Name", "EQUALS", &["x"])]),
        ),
        (
            "filter name",
            product("SSM_MANAGED", vec![filter("Colour", "EQUALS", &["x"])]),
        ),
        (
            "tag comparator",
            product("SSM_MANAGED", vec![filter("Tag:k", "EQUALS", &["v"])]),
        ),
        (
            "application comparator",
            product(
                "SSM_MANAGED",
                vec![filter("Application Name", "NOT_EQUALS", &["x"])],
            ),
        ),
        (
            "RDS filter on SSM",
            product(
                "SSM_MANAGED",
                vec![filter("Engine Edition", "EQUALS", &["oracle-ee"])],
            ),
        ),
        (
            "engine edition value",
            product(
                "RDS",
                vec![filter("Engine Edition", "EQUALS", &["postgres"])],
            ),
        ),
        (
            "account id value",
            product(
                "SSM_MANAGED",
                vec![filter("AccountId", "NOT_EQUALS", &["12"])],
            ),
        ),
    ] {
        let err = update(p).await.unwrap_err();
        assert_eq!(code(&err), "InvalidParameterValueException", "{what}");
    }
    let err = lm
        .create_license_configuration()
        .name("bad")
        .license_counting_type(LicenseCountingType::Instance)
        .product_information_list(product(
            "SSM_MANAGED",
            vec![filter("Tag:", "NOT_EQUALS", &[])],
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
}
