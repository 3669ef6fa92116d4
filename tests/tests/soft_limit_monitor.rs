//! soft-limit-monitor's real bootstrap in the local stack, its schedule fired on demand with
//! `Enforcement=harden`: a soft-limited configuration warns once, passes its limit and is
//! hardened (count unchanged), a repeated sweep says nothing new, and recovery is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_licensemanager::types::{LicenseCountingType, LicenseSpecification};
use common::TestStack;
use local_test_kit::bus;
use local_test_kit::clients::{CUSTOMER_ACCOUNT, REGION, sdk_config};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(10);

fn detail_types(events: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = events
        .iter()
        .map(|event| event["detail-type"].as_str().unwrap_or_default().to_owned())
        .collect();
    types.sort();
    types
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_sweep_warns_then_alerts_and_hardens_once() {
    let stack = TestStack::start("template.yaml", &[("Enforcement", "harden")]).await;
    let customer = aws_sdk_licensemanager::Client::from_conf(
        aws_sdk_licensemanager::config::Builder::from(&sdk_config(CUSTOMER_ACCOUNT).await)
            .endpoint_url(stack.stack.license_manager_url())
            .build(),
    );
    let events_queue = stack.infra().events_queue_url.clone();
    let sqs = stack.clients().sqs.clone();
    let configuration = customer
        .create_license_configuration()
        .name("analytics instances")
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(10)
        .license_count_hard_limit(false)
        .send()
        .await
        .unwrap()
        .license_configuration_arn
        .unwrap();
    // Instances in `range` start (`add`) or stop using the configuration.
    let use_instances = |range: std::ops::Range<u32>, add: bool| {
        let customer = customer.clone();
        let configuration = configuration.clone();
        async move {
            for n in range {
                let specification = LicenseSpecification::builder()
                    .license_configuration_arn(&configuration)
                    .build()
                    .unwrap();
                let request = customer
                    .update_license_specifications_for_resource()
                    .resource_arn(format!(
                        "arn:aws:ec2:{REGION}:{CUSTOMER_ACCOUNT}:instance/i-{n:017x}"
                    ));
                let request = if add {
                    request.add_license_specifications(specification)
                } else {
                    request.remove_license_specifications(specification)
                };
                request.send().await.unwrap();
            }
        }
    };
    let sweep = || async {
        let fired = stack
            .app()
            .runtime
            .fire("soft-limit-monitor", &sqs)
            .await
            .unwrap();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].trigger, "Sweep");
        fired[0]
            .invocation
            .result
            .clone()
            .expect("the function succeeded")
    };

    use_instances(0..9, true).await;
    let summary = sweep().await;
    assert_eq!(summary["trigger"], json!("sweep"), "{summary}");
    assert_eq!(summary["alerted"], json!(1), "{summary}");
    let events = bus::receive(&sqs, &events_queue, 1, PATIENCE)
        .await
        .unwrap();
    assert_eq!(detail_types(&events), ["Soft Limit Warning"]);
    assert_eq!(events[0]["detail"]["consumed"], json!(9));
    assert_eq!(events[0]["resources"], json!([configuration]));

    use_instances(9..11, true).await;
    let summary = sweep().await;
    assert_eq!(summary["enforced"], json!(1), "{summary}");
    let events = bus::receive(&sqs, &events_queue, 2, PATIENCE)
        .await
        .unwrap();
    assert_eq!(
        detail_types(&events),
        ["Soft Limit Enforced", "Soft Limit Exceeded"]
    );
    let now = customer
        .get_license_configuration()
        .license_configuration_arn(&configuration)
        .send()
        .await
        .unwrap();
    assert_eq!(now.license_count_hard_limit(), Some(true));
    assert_eq!(now.license_count(), Some(10));

    let summary = sweep().await;
    assert_eq!(summary["alerted"], json!(0), "{summary}");
    assert_eq!(summary["skipped"], json!(1), "hard now: {summary}");
    let events = bus::receive(&sqs, &events_queue, 0, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(events.is_empty(), "the sweep emitted {events:?}");

    // The hardened limit is followed until usage falls back: recovered, once.
    use_instances(0..5, false).await;
    let summary = sweep().await;
    assert_eq!(summary["alerted"], json!(1), "{summary}");
    let events = bus::receive(&sqs, &events_queue, 1, PATIENCE)
        .await
        .unwrap();
    assert_eq!(detail_types(&events), ["Soft Limit Recovered"]);
    assert_eq!(events[0]["detail"]["consumed"], json!(6));
    stack.stop().await;
}
