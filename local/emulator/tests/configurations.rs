//! Self-managed license configurations, tags and service settings through the real SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    Filter, InventoryFilter, InventoryFilterCondition, LicenseConfigurationStatus,
    LicenseCountingType, OrganizationConfiguration, ProductInformation, ProductInformationFilter,
    ResourceType, Tag,
};
use common::*;

async fn configuration(client: &Client, name: &str, count: i64, hard: bool) -> String {
    client
        .create_license_configuration()
        .name(name)
        .description("SQL Server Enterprise")
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(count)
        .license_count_hard_limit(hard)
        .tags(Tag::builder().key("team").value("dba").build())
        .send()
        .await
        .unwrap()
        .license_configuration_arn
        .unwrap()
}

/// ARNs of the configurations ListLicenseConfigurations returns for one filter.
async fn filtered(client: &Client, name: &str, value: &str) -> Vec<String> {
    client
        .list_license_configurations()
        .filters(Filter::builder().name(name).values(value).build())
        .send()
        .await
        .unwrap()
        .license_configurations()
        .iter()
        .filter_map(|c| c.license_configuration_arn().map(str::to_string))
        .collect()
}

fn instance(n: u32) -> String {
    format!("arn:aws:ec2:us-east-1:{ISV}:instance/i-{n:017x}")
}

#[tokio::test]
async fn create_get_update_list_delete_configuration() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let arn = configuration(&isv, "sql", 10, true).await;
    assert!(arn.starts_with(&format!(
        "arn:aws:license-manager:us-east-1:{ISV}:license-configuration:lic-"
    )));
    assert_eq!(arn.rsplit("lic-").next().unwrap().len(), 32);

    let got = get_license_configuration(&isv, &arn).await;
    assert_eq!(got.name(), Some("sql"));
    assert_eq!(got.license_count(), Some(10));
    assert_eq!(got.license_count_hard_limit(), Some(true));
    assert_eq!(got.consumed_licenses(), Some(0));
    assert_eq!(got.owner_account_id(), Some(ISV));
    assert_eq!(got.status(), Some("AVAILABLE"));
    assert_eq!(got.tags()[0].key(), Some("team"));

    isv.update_license_configuration()
        .license_configuration_arn(&arn)
        .license_count(12)
        .name("sql-2")
        .license_configuration_status(LicenseConfigurationStatus::Disabled)
        .product_information_list(
            ProductInformation::builder()
                .resource_type("SSM_MANAGED")
                .product_information_filter_list(
                    ProductInformationFilter::builder()
                        .product_information_filter_name("Application Name")
                        .product_information_filter_comparator("EQUALS")
                        .product_information_filter_value("SQL Server Enterprise")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = get_license_configuration(&isv, &arn).await;
    assert_eq!(got.name(), Some("sql-2"));
    assert_eq!(got.license_count(), Some(12));
    assert_eq!(got.status(), Some("DISABLED"));
    assert_eq!(got.product_information_list().len(), 1);

    configuration(&isv, "soft", 1, false).await;
    let listed = isv.list_license_configurations().send().await.unwrap();
    assert_eq!(listed.license_configurations().len(), 2);
    assert_eq!(
        filtered(&isv, "enforceLicenseCount", "true").await,
        std::slice::from_ref(&arn)
    );
    assert!(
        filtered(&isv, "licenseCountingType", "vCPU")
            .await
            .is_empty()
    );
    assert_eq!(
        filtered(&isv, "licenseCountingType", "Instance")
            .await
            .len(),
        2
    );
    let by_arn = isv
        .list_license_configurations()
        .license_configuration_arns(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.license_configurations().len(), 1);
    let page = isv
        .list_license_configurations()
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert!(page.next_token().is_some());
    // Another account does not see it.
    let customer = h.client(CUSTOMER).await;
    assert_eq!(
        get_license_configuration_error(&customer, &arn).await,
        "InvalidParameterValueException"
    );

    delete_license_configuration(&isv, &arn).await;
    assert_eq!(
        get_license_configuration_error(&isv, &arn).await,
        "InvalidParameterValueException"
    );
}

#[tokio::test]
async fn hard_limit_refuses_and_soft_limit_allows_exceeding() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let hard = configuration(&isv, "hard", 2, true).await;
    let soft = configuration(&isv, "soft", 2, false).await;
    for n in 0..2 {
        associate(&isv, &instance(n), &hard).await.unwrap();
    }
    // Re-associating the same resource does not count twice.
    associate(&isv, &instance(0), &hard).await.unwrap();
    assert_eq!(
        associate(&isv, &instance(2), &hard).await,
        Err("LicenseUsageException".into())
    );
    let got = get_license_configuration(&isv, &hard).await;
    assert_eq!(got.consumed_licenses(), Some(2));
    assert_eq!(
        got.consumed_license_summary_list()[0].resource_type(),
        Some(&ResourceType::Ec2Instance)
    );

    for n in 0..3 {
        associate(&isv, &instance(n), &soft).await.unwrap();
    }
    let got = get_license_configuration(&isv, &soft).await;
    assert_eq!(got.consumed_licenses(), Some(3));
    assert_eq!(
        filtered(&isv, "usagelimitExceeded", "true").await,
        std::slice::from_ref(&soft)
    );

    // Usage and associations.
    let usage = isv
        .list_usage_for_license_configuration()
        .license_configuration_arn(&soft)
        .send()
        .await
        .unwrap();
    assert_eq!(usage.license_configuration_usage_list().len(), 3);
    assert_eq!(
        usage.license_configuration_usage_list()[0].consumed_licenses(),
        Some(1)
    );
    let filtered = isv
        .list_usage_for_license_configuration()
        .license_configuration_arn(&soft)
        .filters(
            Filter::builder()
                .name("resourceArn")
                .values(instance(1))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.license_configuration_usage_list().len(), 1);
    let assoc = isv
        .list_associations_for_license_configuration()
        .license_configuration_arn(&hard)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(assoc.license_configuration_associations().len(), 1);
    assert!(assoc.next_token().is_some());
    let a = &assoc.license_configuration_associations()[0];
    assert_eq!(a.resource_owner_id(), Some(ISV));
    assert!(a.association_time().is_some());

    let specs = isv
        .list_license_specifications_for_resource()
        .resource_arn(instance(0))
        .send()
        .await
        .unwrap();
    assert_eq!(specs.license_specifications().len(), 2);

    // Removing frees a license under the hard limit.
    disassociate(&isv, &instance(0), &hard).await.unwrap();
    associate(&isv, &instance(2), &hard).await.unwrap();

    let inventory = isv.list_resource_inventory().send().await.unwrap();
    assert_eq!(inventory.resource_inventory_list().len(), 3);
    let one = isv
        .list_resource_inventory()
        .filters(
            InventoryFilter::builder()
                .name("resource_id")
                .condition(InventoryFilterCondition::Equals)
                .value(format!("i-{:017x}", 1))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(one.resource_inventory_list().len(), 1);
    assert_eq!(
        one.resource_inventory_list()[0].resource_type(),
        Some(&ResourceType::Ec2Instance)
    );

    // Refusals are synchronous: no failed operations are recorded.
    let failures = isv
        .list_failures_for_license_configuration_operations()
        .license_configuration_arn(&hard)
        .send()
        .await
        .unwrap();
    assert!(failures.license_operation_failure_list().is_empty());
    let err = isv
        .list_failures_for_license_configuration_operations()
        .license_configuration_arn(
            "arn:aws:license-manager:us-east-1:111122223333:license-configuration:lic-0",
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");

    // Resources must be ARNs License Manager tracks.
    assert_eq!(
        associate(&isv, "arn:aws:s3:::bucket", &soft).await,
        Err("InvalidParameterValueException".into())
    );
}

#[tokio::test]
async fn a_configuration_in_use_cannot_be_deleted() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let soft = configuration(&isv, "in-use", 1, false).await;
    associate(&isv, &instance(3), &soft).await.unwrap();

    let err = isv
        .delete_license_configuration()
        .license_configuration_arn(&soft)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    let still = get_license_configuration(&isv, &soft).await;
    assert_eq!(still.consumed_licenses(), Some(1));

    disassociate(&isv, &instance(3), &soft).await.unwrap();
    delete_license_configuration(&isv, &soft).await;
    assert_eq!(
        get_license_configuration_error(&isv, &soft).await,
        "InvalidParameterValueException"
    );
}

#[tokio::test]
async fn tags_on_licenses_and_configurations() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let config = configuration(&isv, "sql", 1, false).await;
    let license = users_license(&isv, "acme-pro", 1).await;
    for arn in [&config, &license] {
        isv.tag_resource()
            .resource_arn(arn)
            .tags(Tag::builder().key("env").value("prod").build())
            .tags(Tag::builder().key("team").value("licensing").build())
            .send()
            .await
            .unwrap();
        isv.untag_resource()
            .resource_arn(arn)
            .tag_keys("env")
            .send()
            .await
            .unwrap();
        let tags = isv
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let pairs: Vec<_> = tags
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(pairs, [("team", "licensing")]);
    }
    let err = h
        .client(CUSTOMER)
        .await
        .tag_resource()
        .resource_arn(&license)
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
}

#[tokio::test]
async fn service_settings_are_per_account() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let before = isv.get_service_settings().send().await.unwrap();
    assert_eq!(before.enable_cross_accounts_discovery(), Some(false));
    isv.update_service_settings()
        .s3_bucket_arn("arn:aws:s3:::license-reports")
        .sns_topic_arn(format!("arn:aws:sns:us-east-1:{ISV}:license-alerts"))
        .organization_configuration(
            OrganizationConfiguration::builder()
                .enable_integration(true)
                .build(),
        )
        .enable_cross_accounts_discovery(true)
        .enabled_discovery_source_regions("eu-west-1")
        .send()
        .await
        .unwrap();
    let after = isv.get_service_settings().send().await.unwrap();
    assert_eq!(after.s3_bucket_arn(), Some("arn:aws:s3:::license-reports"));
    assert_eq!(
        after.sns_topic_arn(),
        Some(format!("arn:aws:sns:us-east-1:{ISV}:license-alerts").as_str())
    );
    assert!(
        after
            .organization_configuration()
            .unwrap()
            .enable_integration()
    );
    assert_eq!(after.enable_cross_accounts_discovery(), Some(true));
    assert_eq!(after.cross_region_discovery_source_regions(), ["eu-west-1"]);
    let other = h
        .client(CUSTOMER)
        .await
        .get_service_settings()
        .send()
        .await
        .unwrap();
    assert_eq!(other.s3_bucket_arn(), None);
}
