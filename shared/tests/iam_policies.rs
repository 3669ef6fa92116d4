//! Every function's IAM policy in template.yaml allows exactly the License Manager operations
//! its code calls: a call the policy does not allow fails in AWS with AccessDenied (and never
//! locally, where nothing checks IAM); an allowed operation the code never calls is a needless
//! permission.
//!
//! For each `AWS::Serverless::Function` with `Metadata.BuildProperties.Binary: X`, the
//! `license-manager:*` actions of its `Policies` are compared with the SDK calls
//! (`.accept_grant()`, ...) in `functions/X/src/**/*.rs`, for every operation of License
//! Manager's API model. This is sound only if no License Manager call hides in `shared`, which
//! the test checks too: shared gives the adapters their frame (`LicenseManagerBase`, the call
//! gate's `call` and `paginate`), and each function's `license_manager.rs` names its operations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// License Manager's operations from the API model, as `(OperationName, sdk_method_name)`.
fn operations() -> Vec<(String, String)> {
    let path = workspace_root().join("local/emulator/model/license-manager-2018-08-01.json");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let operations = model["operations"]
        .as_object()
        .expect("the model lists operations");
    assert!(
        operations.len() > 50,
        "the model has License Manager's operations"
    );
    operations
        .keys()
        .map(|name| (name.clone(), snake_case(name)))
        .collect()
}

/// `CreateGrantVersion` -> `create_grant_version`, as the Rust SDK names its methods.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (index, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            let previous = chars[index - 1];
            let next_is_lower = chars.get(index + 1).is_some_and(char::is_ascii_lowercase);
            if previous.is_ascii_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_ascii_uppercase() && next_is_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The operations `source` calls: `.method()` of the SDK's fluent builders, outside comments.
fn operations_called(source: &str, operations: &[(String, String)]) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    // rustfmt may break a chain before the dot, never inside `.name()`.
    let code: String = code.split_whitespace().collect();
    operations
        .iter()
        .filter(|(_, method)| code.contains(&format!(".{method}()")))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The operations called in every `.rs` file under `dir`.
fn operations_called_under(dir: &Path, operations: &[(String, String)]) -> BTreeSet<String> {
    let mut called = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                called.extend(operations_called(&source, operations));
            }
        }
    }
    called
}

/// Every string under `Action` keys anywhere in `value` (a function's `Policies`).
fn actions(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(mapping) => {
            for (key, item) in mapping {
                if key.as_str() == Some("Action") {
                    match item {
                        Value::String(action) => {
                            out.insert(action.clone());
                        }
                        Value::Sequence(list) => {
                            out.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                        }
                        _ => {}
                    }
                } else {
                    actions(item, out);
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| actions(item, out)),
        Value::Tagged(tagged) => actions(&tagged.value, out),
        _ => {}
    }
}

/// Each function's binary with the License Manager operations its policy allows, by logical id.
fn functions_in_template() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut functions = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap().to_owned();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no Metadata.BuildProperties.Binary"))
            .to_owned();
        let mut all = BTreeSet::new();
        actions(&resource["Properties"]["Policies"], &mut all);
        let license_manager = all
            .into_iter()
            .filter_map(|action| action.strip_prefix("license-manager:").map(str::to_owned))
            .collect();
        functions.insert(id, (binary, license_manager));
    }
    functions
}

/// What differs between the operations a policy allows and those the code calls.
fn compare(function: &str, allowed: &BTreeSet<String>, called: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for action in allowed.iter().filter(|action| action.contains('*')) {
        problems.push(format!(
            "{function}: its policy allows license-manager:{action}; list the operations it calls instead"
        ));
    }
    for operation in called.difference(allowed) {
        problems.push(format!(
            "{function}: its code calls License Manager {operation} but its policy does not allow license-manager:{operation}"
        ));
    }
    for action in allowed
        .difference(called)
        .filter(|action| !action.contains('*'))
    {
        problems.push(format!(
            "{function}: its policy allows license-manager:{action} but its code never calls {action}"
        ));
    }
    problems
}

#[test]
fn every_function_policy_allows_exactly_the_license_manager_operations_it_calls() {
    let operations = operations();
    let functions = functions_in_template();
    assert!(
        functions
            .values()
            .any(|(binary, _)| binary == "grant-acceptor"),
        "template.yaml has the grant-acceptor function: {functions:?}"
    );
    let mut problems = Vec::new();
    for (id, (binary, allowed)) in &functions {
        let source = workspace_root().join("functions").join(binary).join("src");
        problems.extend(check_function(id, binary, allowed, &source, &operations));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The problems of function `id` whose sources are under `source`: what the test above
/// reports for it.
fn check_function(
    id: &str,
    binary: &str,
    allowed: &BTreeSet<String>,
    source: &Path,
    operations: &[(String, String)],
) -> Vec<String> {
    assert!(source.is_dir(), "{id}: no sources at {}", source.display());
    let called = operations_called_under(source, operations);
    compare(&format!("{id} ({binary})"), allowed, &called)
}

/// Copies the `.rs` files under `from` to `to`, keeping the folders.
fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_sources(&path, &target);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_call_added_to_a_function_without_its_iam_action_fails_the_check() {
    let operations = operations();
    let functions = functions_in_template();
    let (id, (binary, allowed)) = functions
        .iter()
        .find(|(_, (binary, _))| binary == "grant-acceptor")
        .expect("template.yaml has the grant-acceptor function");
    // grant-acceptor's sources as they are, plus a file with two more operations written the
    // way the adapters write them (one call, one paginated listing) in a nested module.
    let copy = std::env::temp_dir().join(format!("iam-policy-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    let source = workspace_root().join("functions").join(binary).join("src");
    copy_sources(&source, &copy);
    assert!(check_function(id, binary, allowed, &copy, &operations).is_empty());
    std::fs::create_dir_all(copy.join("extra")).unwrap();
    std::fs::write(
        copy.join("extra/mod.rs"),
        r#"
        impl LicenseManager {
            pub async fn delete_grant(&self, arn: &str) -> Result<(), LicenseManagerError> {
                self.call("DeleteGrant", arn, |lm| lm.delete_grant().grant_arn(arn).send())
                    .await
                    .map(|_| ())
            }

            pub async fn distributed(&self) -> Result<usize, LicenseManagerError> {
                let mut count = 0;
                self.paginate("ListDistributedGrants", "", MAX_PAGES, |lm, next_token| {
                    lm
                        .list_distributed_grants()
                        .set_next_token(next_token)
                        .send()
                }, |output| { count += output.grants().len(); output.next_token })
                .await?;
                Ok(count)
            }
        }
        "#,
    )
    .unwrap();
    let problems = check_function(id, binary, allowed, &copy, &operations);
    std::fs::remove_dir_all(&copy).unwrap();
    assert_eq!(
        problems,
        [
            format!(
                "{id} (grant-acceptor): its code calls License Manager DeleteGrant but its \
                 policy does not allow license-manager:DeleteGrant"
            ),
            format!(
                "{id} (grant-acceptor): its code calls License Manager ListDistributedGrants \
                 but its policy does not allow license-manager:ListDistributedGrants"
            ),
        ]
    );
}

#[test]
fn shared_calls_no_license_manager_operation() {
    let called = operations_called_under(&workspace_root().join("shared/src"), &operations());
    assert!(
        called.is_empty(),
        "License Manager calls belong in the function's own crate so that its policy can be \
         checked; shared/src calls {called:?}"
    );
}

#[test]
fn the_comparison_names_the_function_and_the_operation_either_way() {
    let set = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
    assert!(compare("F (f)", &set(&["GetGrant"]), &set(&["GetGrant"])).is_empty());
    assert_eq!(
        compare(
            "F (f)",
            &set(&["GetGrant", "DeleteGrant"]),
            &set(&["GetGrant", "AcceptGrant"])
        ),
        [
            "F (f): its code calls License Manager AcceptGrant but its policy does not allow license-manager:AcceptGrant",
            "F (f): its policy allows license-manager:DeleteGrant but its code never calls DeleteGrant",
        ]
    );
    assert_eq!(
        compare("F (f)", &set(&["Get*"]), &set(&[])),
        ["F (f): its policy allows license-manager:Get*; list the operations it calls instead"]
    );
}

#[test]
fn sdk_calls_are_found_by_their_snake_case_names_only() {
    let operations = operations();
    assert_eq!(snake_case("CreateGrantVersion"), "create_grant_version");
    assert_eq!(
        snake_case("ListReceivedGrantsForOrganization"),
        "list_received_grants_for_organization"
    );
    let source = r#"
        // self.client.reject_grant() is only mentioned here
        let a = client.list_received_grants().send().await;
        let b = client
            .accept_grant()
            .grant_arn(arn);
        let c = client.get_grant_details(); // not an operation
    "#;
    assert_eq!(
        operations_called(source, &operations),
        ["AcceptGrant", "ListReceivedGrants"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}

#[test]
fn policy_actions_are_read_from_strings_lists_and_tagged_values() {
    let policies: Value = serde_norway::from_str(
        r#"
        - EventBridgePutEventsPolicy:
            EventBusName: !Ref EventBus
        - Statement:
            - Effect: Allow
              Action: license-manager:GetGrant
              Resource: "*"
            - Effect: Allow
              Action: [dynamodb:PutItem, license-manager:AcceptGrant]
              Resource: !GetAtt StateTable.Arn
        "#,
    )
    .unwrap();
    let mut found = BTreeSet::new();
    actions(&policies, &mut found);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        [
            "dynamodb:PutItem",
            "license-manager:AcceptGrant",
            "license-manager:GetGrant"
        ]
    );
}
