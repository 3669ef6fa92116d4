//! Refresh and access tokens through the real SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::{Filter, TokenType};
use common::*;

#[tokio::test]
async fn create_list_use_and_delete_tokens() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let a = users_license(&isv, "acme-pro", 1).await;
    let b = users_license(&isv, "acme-lite", 1).await;
    // CreateToken of license `a` for tenant 42 with ClientToken "tok-a".
    let create_tenant_token = || {
        isv.create_token()
            .license_arn(&a)
            .role_arns(format!(
                "arn:aws:iam::{ISV}:role/AWSLicenseManagerConsumptionRole"
            ))
            .token_properties("tenant=42")
            .expiration_in_days(30)
            .client_token("tok-a")
            .send()
    };
    let created = create_tenant_token().await.unwrap();
    assert_eq!(created.token_type(), Some(&TokenType::RefreshToken));
    let token = created.token().unwrap().to_string();
    let id = created.token_id().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    // The model maps LicenseArn to the `aud` claim and TokenProperties to `amr`.
    let claims: serde_json::Value = {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["aud"], a.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["tenant=42"]));
    let again = create_tenant_token().await.unwrap();
    assert_eq!(again.token_id(), Some(id.as_str()));
    // A replay answers the very same token, not a re-signed one.
    assert_eq!(again.token(), Some(token.as_str()));
    isv.create_token()
        .license_arn(&b)
        .client_token("tok-b")
        .send()
        .await
        .unwrap();

    let all = isv.list_tokens().send().await.unwrap();
    assert_eq!(all.tokens().len(), 2);
    let only_a = isv
        .list_tokens()
        .filters(Filter::builder().name("LicenseArns").values(&a).build())
        .send()
        .await
        .unwrap();
    assert_eq!(only_a.tokens().len(), 1);
    let t = &only_a.tokens()[0];
    assert_eq!(t.token_id(), Some(id.as_str()));
    assert_eq!(t.expiration_time(), Some("2026-01-31T00:00:00Z"));
    assert_eq!(t.token_properties(), ["tenant=42"]);
    assert_eq!(
        isv.list_tokens()
            .token_ids(&id)
            .send()
            .await
            .unwrap()
            .tokens()
            .len(),
        1
    );
    assert_eq!(
        isv.list_tokens()
            .max_results(1)
            .send()
            .await
            .unwrap()
            .tokens()
            .len(),
        1
    );
    // Other accounts do not see them.
    assert!(
        h.client(CUSTOMER)
            .await
            .list_tokens()
            .send()
            .await
            .unwrap()
            .tokens()
            .is_empty()
    );

    let access = isv.get_access_token().token(&token).send().await.unwrap();
    assert!(
        access
            .access_token()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    let err = isv
        .get_access_token()
        .token(&token)
        .token_properties("tenant=7")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let err = isv
        .get_access_token()
        .token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    isv.delete_token().token_id(&id).send().await.unwrap();
    let err = isv.delete_token().token_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert_eq!(isv.list_tokens().send().await.unwrap().tokens().len(), 1);
    let err = isv
        .get_access_token()
        .token(&token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");

    // Tokens only for licenses the caller can see.
    let err = h
        .client(STRANGER)
        .await
        .create_token()
        .license_arn(&a)
        .client_token("s")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let a = users_license(&isv, "acme-pro", 1).await;
    let created = isv
        .create_token()
        .license_arn(&a)
        .expiration_in_days(1)
        .client_token("t")
        .send()
        .await
        .unwrap();
    h.advance_minutes(24 * 60 + 1);
    let err = isv
        .get_access_token()
        .token(created.token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(message(&err).contains("expired"));
}
