//! The organization, locally, through the local stack's organization demo (`local-stack
//! --accounts N`): the ISV grants a license to an organization of five member accounts (the
//! emulator's `--organization`); in each member account the real grant-acceptor bootstrap,
//! with that account's identity, activates the member's own grant, and the member stack's
//! forward rule (template.yaml's `CentralForwardRule`) brings each member's `Grant Accepted`
//! to the central bus, naming the member; one member's soft-limit warning reaches the central
//! bus and the central alert topic. `ORG_MEMBERS=20` (with `--nocapture`, which shows the demo's timings) times a larger one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::path::Path;

use integration_tests::profile_dir;
use local_stack::organization::{self, OrgOptions};
use local_stack::stack::StackOptions;
use local_test_kit::moto::default_moto_server;
use serde_json::json;

/// Five member accounts, or `ORG_MEMBERS`.
fn members() -> NonZeroUsize {
    std::env::var("ORG_MEMBERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(NonZeroUsize::new(5).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_grant_is_activated_in_every_member_and_reported_centrally() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work_dir = std::env::temp_dir().join(format!("org-test-{}", std::process::id()));
    let options = OrgOptions {
        accounts: members(),
        stack: StackOptions {
            moto_server: default_moto_server(),
            port: 0,
            state_file: None,
            work_dir: work_dir.clone(),
        },
        template: workspace.join("template.yaml"),
        central_template: workspace.join("central.yaml"),
        bin_dir: profile_dir(),
        parameters: BTreeMap::new(),
    };
    let outcome = organization::run(&options).await.unwrap();
    let members: BTreeSet<String> = outcome.members.iter().cloned().collect();
    assert_eq!(members.len(), options.accounts.get());

    // Every member's own License Manager reads its grant ACTIVE.
    assert_eq!(outcome.active, members);
    // Every member's Grant Accepted reached the central bus, naming its account.
    assert_eq!(outcome.accepted_centrally, members);
    // One member's warning reached the central bus and the central alert topic.
    let member = &outcome.members[0];
    for warning in [&outcome.warning_on_bus, &outcome.warning_on_topic] {
        let warning = warning.as_ref().expect("the warning was delivered");
        assert_eq!(warning["detail-type"], json!("Soft Limit Warning"));
        assert_eq!(warning["detail"]["account"], json!(member));
    }
    assert_eq!(outcome.summary.failed, 0, "{}", outcome.summary);
    let _ = std::fs::remove_dir_all(&work_dir);
}
