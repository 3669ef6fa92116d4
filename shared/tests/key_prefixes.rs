//! Every function's access to the state table in template.yaml is conditioned on exactly the
//! key prefixes its code uses (`dynamodb:LeadingKeys`): a record kind the policy does not allow
//! fails in AWS with AccessDenied (and never locally, where nothing checks IAM); a prefix the
//! code never uses lets the function read or overwrite records that are not its own, such as
//! checkout-proxy's live leases.
//!
//! The prefixes come from the typed keys ([`StateKey::prefix`]); which kinds a function uses is
//! read from the `StateKey::<Kind>` its `functions/<binary>/src/**/*.rs` names. That is sound
//! only while no key is built in `shared` outside `state.rs`, which the test checks too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use license_automation::state::StateKey;
use serde_norway::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The variant's name as code names it (`StateKey::Alert`). Exhaustive: a new kind of record
/// does not compile until it is added here and to [`kinds`].
fn kind_name(key: &StateKey) -> &'static str {
    match key {
        StateKey::Alert { .. } => "Alert",
        StateKey::Notified { .. } => "Notified",
        StateKey::ProcessedEvent { .. } => "ProcessedEvent",
        StateKey::Lease { .. } => "Lease",
        StateKey::CustomerLeases { .. } => "CustomerLeases",
        StateKey::StickyLease { .. } => "StickyLease",
        StateKey::Idempotency { .. } => "Idempotency",
        StateKey::CustomerRate { .. } => "CustomerRate",
        StateKey::Outbox { .. } => "Outbox",
        StateKey::Sweep { .. } => "Sweep",
    }
}

/// One key of every kind.
fn kinds() -> Vec<StateKey> {
    vec![
        StateKey::Alert {
            resource: "r".into(),
        },
        StateKey::Notified {
            arn: "a".into(),
            version: "1".into(),
        },
        StateKey::ProcessedEvent { id: "e".into() },
        StateKey::Lease {
            token_digest: "d".into(),
        },
        StateKey::CustomerLeases {
            beneficiary_digest: "b".into(),
        },
        StateKey::StickyLease { key: "k".into() },
        StateKey::Idempotency { key: "i".into() },
        StateKey::CustomerRate { key: "r".into() },
        StateKey::Outbox { owner: "f".into() },
        StateKey::Sweep { owner: "f".into() },
    ]
}

/// `source` without `//` comments (doc comments included).
fn code(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The key prefixes of the `StateKey::<Kind>` that `source` names outside comments.
fn prefixes_used(source: &str) -> BTreeSet<String> {
    let code = code(source);
    kinds()
        .iter()
        .filter(|key| {
            let name = format!("StateKey::{}", kind_name(key));
            code.match_indices(&name).any(|(at, _)| {
                // `StateKey::Lease` is not `StateKey::LeaseX`.
                !code[at + name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
        })
        .map(|key| key.prefix().to_owned())
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files
}

fn prefixes_used_under(dir: &Path) -> BTreeSet<String> {
    rust_files(dir)
        .iter()
        .flat_map(|path| prefixes_used(&std::fs::read_to_string(path).unwrap()))
        .collect()
}

/// What a function's policy says about the table: the prefixes its DynamoDB statements allow,
/// or the statements that allow DynamoDB actions without a `dynamodb:LeadingKeys` condition.
#[derive(Debug, Default, PartialEq)]
struct TableAccess {
    prefixes: BTreeSet<String>,
    unconditioned: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The key prefix a `dynamodb:LeadingKeys` pattern allows: the kind's prefix when the pattern
/// narrows one kind further (`outbox#grant-acceptor`: the function's own outbox partition),
/// else the pattern without its `*`.
fn kind_of_pattern(pattern: &str) -> String {
    let pattern = pattern.trim_end_matches('*');
    kinds()
        .iter()
        .map(StateKey::prefix)
        .find(|prefix| pattern.starts_with(prefix))
        .unwrap_or(pattern)
        .to_owned()
}

/// Reads the DynamoDB statements of a function's `Policies`.
fn table_access(policies: &Value) -> TableAccess {
    let mut access = TableAccess::default();
    let statements = policies
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|policy| policy["Statement"].as_sequence())
        .flatten();
    for statement in statements {
        let actions = strings(&statement["Action"]);
        if !actions.iter().any(|action| action.starts_with("dynamodb:")) {
            continue;
        }
        let leading =
            strings(&statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
        if leading.is_empty() {
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
            access
                .unconditioned
                .push(format!("{sid}: {}", actions.join(", ")));
        }
        access
            .prefixes
            .extend(leading.iter().map(|pattern| kind_of_pattern(pattern)));
    }
    access
}

/// What differs between the prefixes a policy allows and those the code uses.
fn compare(function: &str, access: &TableAccess, used: &BTreeSet<String>) -> Vec<String> {
    let mut problems: Vec<String> = access
        .unconditioned
        .iter()
        .map(|statement| {
            format!("{function}: {statement} on the state table is not conditioned on dynamodb:LeadingKeys")
        })
        .collect();
    let known: BTreeSet<String> = kinds().iter().map(|key| key.prefix().to_owned()).collect();
    for prefix in access.prefixes.difference(&known) {
        problems.push(format!(
            "{function}: its policy allows {prefix}*, which no StateKey has"
        ));
    }
    for prefix in used.difference(&access.prefixes) {
        problems.push(format!(
            "{function}: its code uses {prefix} records but its policy does not allow {prefix}*"
        ));
    }
    for prefix in access
        .prefixes
        .intersection(&known)
        .filter(|p| !used.contains(*p))
    {
        problems.push(format!(
            "{function}: its policy allows {prefix}* but its code never uses {prefix} records"
        ));
    }
    problems
}

/// Each function's binary and table access, by logical id.
fn functions_in_template() -> BTreeMap<String, (String, TableAccess)> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
    let template = untagged(template);
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, resource)| {
            let id = id.as_str().unwrap().to_owned();
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} has no Metadata.BuildProperties.Binary"))
                .to_owned();
            let access = table_access(&resource["Properties"]["Policies"]);
            (id, (binary, access))
        })
        .collect()
}

/// The document with `!Tag value` replaced by `value` (so indexing reaches inside).
fn untagged(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => untagged(tagged.value),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(untagged).collect()),
        Value::Mapping(mapping) => Value::Mapping(
            mapping
                .into_iter()
                .map(|(key, item)| (key, untagged(item)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn every_function_may_touch_exactly_the_state_key_prefixes_its_code_uses() {
    let functions = functions_in_template();
    assert!(
        functions
            .values()
            .any(|(binary, _)| binary == "checkout-proxy"),
        "template.yaml has the checkout-proxy function: {functions:?}"
    );
    let mut problems = Vec::new();
    for (id, (binary, access)) in &functions {
        let source = workspace_root().join("functions").join(binary).join("src");
        assert!(source.is_dir(), "{id}: no sources at {}", source.display());
        let used = prefixes_used_under(&source);
        problems.extend(compare(&format!("{id} ({binary})"), access, &used));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn no_state_key_is_built_in_shared_outside_the_state_module() {
    let shared = workspace_root().join("shared/src");
    // Unit tests (the in-memory table's, say) build keys of every kind; they write no table.
    let outside: Vec<_> = rust_files(&shared)
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| name != "state.rs"))
        .filter(|path| {
            let source = std::fs::read_to_string(path).unwrap();
            let shipped = source.split("#[cfg(test)]").next().unwrap_or_default();
            !prefixes_used(shipped).is_empty()
        })
        .collect();
    assert!(
        outside.is_empty(),
        "state keys belong in the function's own crate so that its policy can be checked: {outside:?}"
    );
}

#[test]
fn every_kind_of_record_has_its_own_prefix() {
    let prefixes: BTreeSet<_> = kinds().iter().map(StateKey::prefix).collect();
    assert_eq!(prefixes.len(), kinds().len());
    for key in kinds() {
        assert!(key.partition_key().starts_with(key.prefix()), "{key:?}");
    }
}

#[test]
fn a_function_writing_a_prefix_its_policy_does_not_allow_fails_by_name() {
    let policies: Value = untagged(
        serde_norway::from_str(
            r#"
            - EventBridgePutEventsPolicy:
                EventBusName: !Ref EventBus
            - Statement:
                - Sid: Records
                  Effect: Allow
                  Action: [dynamodb:GetItem, dynamodb:PutItem]
                  Resource: !GetAtt StateTable.Arn
                  Condition:
                    ForAllValues:StringLike:
                      dynamodb:LeadingKeys: ["alert#*", "lease#*"]
                - Sid: Open
                  Effect: Allow
                  Action: dynamodb:DeleteItem
                  Resource: !GetAtt StateTable.Arn
            "#,
        )
        .unwrap(),
    );
    let access = table_access(&policies);
    let used = prefixes_used(
        "let key = StateKey::Alert { resource };\n\
         let other = StateKey::Notified { arn, version }; // StateKey::Lease only in a comment",
    );
    assert_eq!(
        compare("F (f)", &access, &used),
        [
            "F (f): Open: dynamodb:DeleteItem on the state table is not conditioned on dynamodb:LeadingKeys",
            "F (f): its code uses notified# records but its policy does not allow notified#*",
            "F (f): its policy allows lease#* but its code never uses lease# records",
        ]
    );
    let exact = prefixes_used("StateKey::Alert { resource }; StateKey::Lease { token_digest }");
    let conditioned = TableAccess {
        unconditioned: Vec::new(),
        ..access
    };
    assert!(compare("F (f)", &conditioned, &exact).is_empty());
}

#[test]
fn a_kind_is_found_by_its_whole_name_only() {
    assert_eq!(
        prefixes_used("StateKey::StickyLease { key }"),
        BTreeSet::from(["sticky#".to_owned()])
    );
}
