//! The trust policy (`TRUST_POLICY`, documented under "Trust policy" in the README's
//! Configuration section): which issuers' grants the account accepts.
//!
//! [`TrustPolicy::from_json`] parses strictly (unknown fields are refused) and validates every
//! rule, so a policy that would silently trust nothing, or everything, never reaches a handler.

use globset::{Glob, GlobSet, GlobSetBuilder};
use license_automation::ids::{is_account_id, validate_key_fingerprint};
use serde::Deserialize;

/// A trust policy that failed to parse or validate; the message points at the error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustPolicyError {
    /// Not JSON, or JSON of the wrong shape (includes unknown fields and missing members).
    #[error("not a valid trust policy: {0}")]
    Syntax(String),
    /// Well-formed JSON with a value that is not allowed.
    #[error("{path}: {reason}")]
    Invalid {
        /// Where in the policy, e.g. `trusted[0].granterAccounts[1]`.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// What to do with a pending grant that matches no trust rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UntrustedAction {
    /// Leave the grant pending (the default).
    #[default]
    Ignore,
    /// Call RejectGrant.
    Reject,
}

/// The validated trust policy.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// The rules; a grant is trusted when any rule matches it.
    pub trusted: Vec<TrustRule>,
    /// What happens to grants that match no rule.
    pub untrusted: UntrustedAction,
    /// Whether AcceptGrant is followed by CreateGrantVersion with status ACTIVE.
    pub activate: bool,
}

/// One trust rule: the fingerprint must match, and every optional field present must match.
#[derive(Debug, Clone)]
pub struct TrustRule {
    /// The license issuer's `KeyFingerprint`.
    pub key_fingerprint: String,
    /// The license's `Issuer.Name`, matched exactly.
    pub issuer_name: Option<String>,
    /// Accounts allowed to grant (parsed from the grant ARN).
    pub granter_accounts: Option<Vec<String>>,
    /// Glob patterns the license's product SKU must match (any of them).
    pub product_skus: Option<SkuPatterns>,
}

/// Compiled product SKU glob patterns.
#[derive(Debug, Clone)]
pub struct SkuPatterns {
    patterns: Vec<String>,
    set: GlobSet,
}

impl SkuPatterns {
    /// The patterns as written in the policy.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `sku` matches any of the patterns.
    pub fn matches(&self, sku: &str) -> bool {
        self.set.is_match(sku)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    trusted: Vec<RawRule>,
    #[serde(default)]
    untrusted: UntrustedAction,
    #[serde(default = "default_activate")]
    activate: bool,
}

fn default_activate() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    key_fingerprint: String,
    issuer_name: Option<String>,
    granter_accounts: Option<Vec<String>>,
    product_skus: Option<Vec<String>>,
}

impl TrustPolicy {
    /// Parses and validates a policy from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, TrustPolicyError> {
        let mut json = serde_json::Deserializer::from_str(text);
        let raw: RawPolicy = serde_path_to_error::deserialize(&mut json).map_err(|error| {
            let path = error.path().to_string();
            let message = error.into_inner().to_string();
            // JSON that does not parse has no path; a shape error names where it is.
            if path == "." {
                TrustPolicyError::Syntax(message)
            } else {
                TrustPolicyError::Invalid {
                    path,
                    reason: message,
                }
            }
        })?;
        let trusted = raw
            .trusted
            .into_iter()
            .enumerate()
            .map(|(index, rule)| TrustRule::validate(rule, &format!("trusted[{index}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            trusted,
            untrusted: raw.untrusted,
            activate: raw.activate,
        })
    }
}

impl TrustRule {
    fn validate(raw: RawRule, path: &str) -> Result<Self, TrustPolicyError> {
        let invalid = |field: &str, reason: String| TrustPolicyError::Invalid {
            path: format!("{path}.{field}"),
            reason,
        };
        validate_key_fingerprint(&raw.key_fingerprint)
            .map_err(|reason| invalid("keyFingerprint", reason))?;
        if let Some(name) = &raw.issuer_name
            && name.trim().is_empty()
        {
            return Err(invalid("issuerName", "must not be empty".into()));
        }
        if let Some(accounts) = &raw.granter_accounts {
            if accounts.is_empty() {
                return Err(invalid(
                    "granterAccounts",
                    "must list at least one account (omit it to allow any)".into(),
                ));
            }
            for (index, account) in accounts.iter().enumerate() {
                if !is_account_id(account) {
                    return Err(invalid(
                        &format!("granterAccounts[{index}]"),
                        format!("{account:?} is not a 12-digit AWS account id"),
                    ));
                }
            }
        }
        let product_skus = match raw.product_skus {
            None => None,
            Some(patterns) if patterns.is_empty() => {
                return Err(invalid(
                    "productSkus",
                    "must list at least one pattern (omit it to allow any)".into(),
                ));
            }
            Some(patterns) => {
                let mut builder = GlobSetBuilder::new();
                for (index, pattern) in patterns.iter().enumerate() {
                    let glob = Glob::new(pattern).map_err(|error| {
                        invalid(
                            &format!("productSkus[{index}]"),
                            format!("{pattern:?} is not a valid glob: {}", error.kind()),
                        )
                    })?;
                    builder.add(glob);
                }
                let set = builder
                    .build()
                    .map_err(|error| invalid("productSkus", error.to_string()))?;
                Some(SkuPatterns { patterns, set })
            }
        };
        Ok(Self {
            key_fingerprint: raw.key_fingerprint,
            issuer_name: raw.issuer_name,
            granter_accounts: raw.granter_accounts,
            product_skus,
        })
    }
}

/// What the trust decision looks at: the facts of one grant and its license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantFacts<'a> {
    /// The license's `Issuer.KeyFingerprint`.
    pub key_fingerprint: &'a str,
    /// The license's `Issuer.Name`.
    pub issuer_name: &'a str,
    /// The account that issued the grant (from the grant ARN).
    pub granter_account: &'a str,
    /// The license's `ProductSKU`.
    pub product_sku: &'a str,
}

/// A field of a trust rule that can fail to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleField {
    /// `issuerName`
    IssuerName,
    /// `granterAccounts`
    GranterAccounts,
    /// `productSkus`
    ProductSkus,
}

impl RuleField {
    /// The field's name in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IssuerName => "issuerName",
            Self::GranterAccounts => "granterAccounts",
            Self::ProductSkus => "productSkus",
        }
    }
}

/// One field of one rule (with the right fingerprint) that did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMismatch {
    /// Which field.
    pub field: RuleField,
    /// The grant's value, e.g. the granter account.
    pub actual: String,
    /// What the rule allows, as written in the policy.
    pub allowed: Vec<String>,
}

/// A rule whose fingerprint matched but some of whose fields did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMismatch {
    /// The rule's index in `trusted`.
    pub rule: usize,
    /// Every field that failed, in policy order (never empty).
    pub fields: Vec<FieldMismatch>,
}

/// The outcome of [`TrustPolicy::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustDecision {
    /// The grant is trusted by the rule at this index of `trusted` (the first that matches).
    Trusted {
        /// The rule's index.
        rule: usize,
    },
    /// No rule matched.
    NotTrusted(NotTrustedReason),
}

/// Why a grant is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTrustedReason {
    /// No rule names the license's key fingerprint.
    UnknownFingerprint {
        /// The license's key fingerprint.
        key_fingerprint: String,
    },
    /// Rules name the fingerprint, but each has a field that does not match.
    FieldsMismatch(Vec<RuleMismatch>),
}

impl std::fmt::Display for NotTrustedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownFingerprint { key_fingerprint } => {
                write!(f, "no trust rule has keyFingerprint {key_fingerprint}")
            }
            Self::FieldsMismatch(rules) => {
                let rules: Vec<String> = rules
                    .iter()
                    .map(|rule| {
                        let fields: Vec<String> = rule
                            .fields
                            .iter()
                            .map(|m| {
                                format!(
                                    "{} {:?} not in {:?}",
                                    m.field.as_str(),
                                    m.actual,
                                    m.allowed
                                )
                            })
                            .collect();
                        format!("trusted[{}]: {}", rule.rule, fields.join(", "))
                    })
                    .collect();
                write!(f, "{}", rules.join("; "))
            }
        }
    }
}

impl TrustPolicy {
    /// Decides whether the grant described by `facts` is trusted: the first rule whose
    /// `keyFingerprint` equals the license's and whose present optional fields all match.
    /// When none does, says why for every rule with the right fingerprint.
    pub fn evaluate(&self, facts: &GrantFacts<'_>) -> TrustDecision {
        let mut mismatches = Vec::new();
        for (index, rule) in self.trusted.iter().enumerate() {
            if rule.key_fingerprint != facts.key_fingerprint {
                continue;
            }
            let fields = rule.mismatches(facts);
            if fields.is_empty() {
                return TrustDecision::Trusted { rule: index };
            }
            mismatches.push(RuleMismatch {
                rule: index,
                fields,
            });
        }
        TrustDecision::NotTrusted(if mismatches.is_empty() {
            NotTrustedReason::UnknownFingerprint {
                key_fingerprint: facts.key_fingerprint.to_owned(),
            }
        } else {
            NotTrustedReason::FieldsMismatch(mismatches)
        })
    }
}

impl TrustRule {
    /// The optional fields of this rule that `facts` do not satisfy.
    fn mismatches(&self, facts: &GrantFacts<'_>) -> Vec<FieldMismatch> {
        let mut failed = Vec::new();
        if let Some(name) = &self.issuer_name
            && name != facts.issuer_name
        {
            failed.push(FieldMismatch {
                field: RuleField::IssuerName,
                actual: facts.issuer_name.to_owned(),
                allowed: vec![name.clone()],
            });
        }
        if let Some(accounts) = &self.granter_accounts
            && !accounts
                .iter()
                .any(|account| account == facts.granter_account)
        {
            failed.push(FieldMismatch {
                field: RuleField::GranterAccounts,
                actual: facts.granter_account.to_owned(),
                allowed: accounts.clone(),
            });
        }
        if let Some(skus) = &self.product_skus
            && !skus.matches(facts.product_sku)
        {
            failed.push(FieldMismatch {
                field: RuleField::ProductSkus,
                actual: facts.product_sku.to_owned(),
                allowed: skus.patterns().to_vec(),
            });
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: &str = "aws:111122223333:Acme:issuer-fingerprint";

    fn invalid_path(text: &str) -> String {
        match TrustPolicy::from_json(text).unwrap_err() {
            TrustPolicyError::Invalid { path, .. } => path,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let policy = TrustPolicy::from_json(
            r#"{
              "trusted": [{
                "keyFingerprint": "aws:111122223333:Acme:issuer-fingerprint",
                "issuerName": "Acme",
                "granterAccounts": ["111122223333"],
                "productSkus": ["acme-*"]
              }],
              "untrusted": "reject",
              "activate": false
            }"#,
        )
        .unwrap();
        assert_eq!(policy.untrusted, UntrustedAction::Reject);
        assert!(!policy.activate);
        let rule = &policy.trusted[0];
        assert_eq!(rule.key_fingerprint, ACME);
        assert_eq!(rule.issuer_name.as_deref(), Some("Acme"));
        assert_eq!(rule.granter_accounts, Some(vec!["111122223333".to_owned()]));
        let skus = rule.product_skus.as_ref().unwrap();
        assert_eq!(skus.patterns(), ["acme-*"]);
        assert!(skus.matches("acme-pro"));
        assert!(!skus.matches("globex-pro"));
    }

    #[test]
    fn defaults_are_ignore_and_activate() {
        let policy =
            TrustPolicy::from_json(&format!(r#"{{"trusted":[{{"keyFingerprint":"{ACME}"}}]}}"#))
                .unwrap();
        assert_eq!(policy.untrusted, UntrustedAction::Ignore);
        assert!(policy.activate);
        assert!(policy.trusted[0].product_skus.is_none());
        let empty = TrustPolicy::from_json(r#"{"trusted":[]}"#).unwrap();
        assert!(empty.trusted.is_empty());
    }

    #[test]
    fn a_rule_without_key_fingerprint_is_refused() {
        let error = TrustPolicy::from_json(r#"{"trusted":[{"issuerName":"Acme"}]}"#).unwrap_err();
        assert!(
            error.to_string().contains("missing field `keyFingerprint`"),
            "{error}"
        );
        assert!(error.to_string().starts_with("trusted[0]: "), "{error}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let error = TrustPolicy::from_json(&format!(
            r#"{{"trusted":[{{"keyFingerprint":"{ACME}","productSku":"acme"}}]}}"#
        ))
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `productSku`"),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("trusted[0].productSku: "),
            "{error}"
        );
        let error = TrustPolicy::from_json(r#"{"trusted":[],"autoAccept":true}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `autoAccept`"),
            "{error}"
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let error = TrustPolicy::from_json("{\"trusted\": [}").unwrap_err();
        assert!(error.to_string().contains("line 1 column"), "{error}");
        let error = TrustPolicy::from_json(r#"{"trusted":[],"untrusted":"delete"}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown variant `delete`"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_path() {
        let rule = |fields: &str| {
            format!(
                r#"{{"trusted":[{{"keyFingerprint":"{ACME}"}},{{"keyFingerprint":"{ACME}",{fields}}}]}}"#
            )
        };
        assert_eq!(
            invalid_path(r#"{"trusted":[{"keyFingerprint":"acme"}]}"#),
            "trusted[0].keyFingerprint"
        );
        assert_eq!(
            invalid_path(&rule(r#""granterAccounts":["111122223333","1234"]"#)),
            "trusted[1].granterAccounts[1]"
        );
        assert_eq!(
            invalid_path(&rule(r#""granterAccounts":[]"#)),
            "trusted[1].granterAccounts"
        );
        assert_eq!(
            invalid_path(&rule(r#""productSkus":["acme-*","[unclosed"]"#)),
            "trusted[1].productSkus[1]"
        );
        assert_eq!(
            invalid_path(&rule(r#""productSkus":[]"#)),
            "trusted[1].productSkus"
        );
        assert_eq!(
            invalid_path(&rule(r#""issuerName":" ""#)),
            "trusted[1].issuerName"
        );
    }

    mod evaluate {
        use super::*;

        const GLOBEX: &str = "aws:444455556666:Globex:issuer-fingerprint";

        fn facts<'a>(
            fingerprint: &'a str,
            name: &'a str,
            granter: &'a str,
            sku: &'a str,
        ) -> GrantFacts<'a> {
            GrantFacts {
                key_fingerprint: fingerprint,
                issuer_name: name,
                granter_account: granter,
                product_sku: sku,
            }
        }

        fn policy() -> TrustPolicy {
            TrustPolicy::from_json(&format!(
                r#"{{"trusted":[
                  {{"keyFingerprint":"{ACME}","issuerName":"Acme","granterAccounts":["111122223333"],"productSkus":["acme-*","widget-?"]}},
                  {{"keyFingerprint":"{GLOBEX}"}}
                ]}}"#
            ))
            .unwrap()
        }

        fn mismatched_fields(decision: TrustDecision) -> Vec<(usize, Vec<RuleField>)> {
            match decision {
                TrustDecision::NotTrusted(NotTrustedReason::FieldsMismatch(rules)) => rules
                    .into_iter()
                    .map(|r| (r.rule, r.fields.into_iter().map(|f| f.field).collect()))
                    .collect(),
                other => panic!("expected FieldsMismatch, got {other:?}"),
            }
        }

        #[test]
        fn table() {
            use RuleField::*;
            let policy = policy();
            // (facts, expected decision: Ok(rule) or Err(mismatching fields of rule 0))
            let cases: &[(GrantFacts<'_>, Result<usize, Vec<RuleField>>)] = &[
                (facts(ACME, "Acme", "111122223333", "acme-pro"), Ok(0)),
                (facts(ACME, "Acme", "111122223333", "widget-7"), Ok(0)),
                (facts(GLOBEX, "Anything", "999999999999", "any"), Ok(1)),
                (
                    facts(ACME, "Acme Corp", "111122223333", "acme-pro"),
                    Err(vec![IssuerName]),
                ),
                (
                    facts(ACME, "Acme", "444455556666", "acme-pro"),
                    Err(vec![GranterAccounts]),
                ),
                (
                    facts(ACME, "Acme", "111122223333", "globex-pro"),
                    Err(vec![ProductSkus]),
                ),
                (
                    facts(ACME, "Acme", "111122223333", "widget-77"),
                    Err(vec![ProductSkus]),
                ),
                (
                    facts(ACME, "acme", "444455556666", "x"),
                    Err(vec![IssuerName, GranterAccounts, ProductSkus]),
                ),
            ];
            for (facts, expected) in cases {
                let decision = policy.evaluate(facts);
                match expected {
                    Ok(rule) => assert_eq!(
                        decision,
                        TrustDecision::Trusted { rule: *rule },
                        "{facts:?}"
                    ),
                    Err(fields) => assert_eq!(
                        mismatched_fields(decision),
                        [(0, fields.clone())],
                        "{facts:?}"
                    ),
                }
            }
        }

        #[test]
        fn an_unknown_fingerprint_is_named() {
            let decision = policy().evaluate(&facts(
                "aws:777788889999:Initech:issuer-fingerprint",
                "Acme",
                "111122223333",
                "acme-pro",
            ));
            let TrustDecision::NotTrusted(reason) = decision else {
                panic!("trusted")
            };
            assert_eq!(
                reason.to_string(),
                "no trust rule has keyFingerprint aws:777788889999:Initech:issuer-fingerprint"
            );
        }

        #[test]
        fn every_rule_with_the_fingerprint_reports_its_failing_fields() {
            let policy = TrustPolicy::from_json(&format!(
                r#"{{"trusted":[
                  {{"keyFingerprint":"{ACME}","productSkus":["acme-*"]}},
                  {{"keyFingerprint":"{GLOBEX}"}},
                  {{"keyFingerprint":"{ACME}","granterAccounts":["111122223333"]}}
                ]}}"#
            ))
            .unwrap();
            let decision = policy.evaluate(&facts(ACME, "Acme", "444455556666", "globex-pro"));
            let TrustDecision::NotTrusted(reason) = decision.clone() else {
                panic!("trusted")
            };
            assert_eq!(
                mismatched_fields(decision),
                [
                    (0, vec![RuleField::ProductSkus]),
                    (2, vec![RuleField::GranterAccounts])
                ]
            );
            assert_eq!(
                reason.to_string(),
                r#"trusted[0]: productSkus "globex-pro" not in ["acme-*"]; trusted[2]: granterAccounts "444455556666" not in ["111122223333"]"#
            );
        }

        #[test]
        fn the_first_matching_rule_wins_and_an_empty_policy_trusts_nobody() {
            let policy = TrustPolicy::from_json(&format!(
                r#"{{"trusted":[{{"keyFingerprint":"{ACME}","issuerName":"Other"}},{{"keyFingerprint":"{ACME}"}},{{"keyFingerprint":"{ACME}"}}]}}"#
            ))
            .unwrap();
            assert_eq!(
                policy.evaluate(&facts(ACME, "Acme", "111122223333", "a")),
                TrustDecision::Trusted { rule: 1 }
            );
            let empty = TrustPolicy::from_json(r#"{"trusted":[]}"#).unwrap();
            assert!(matches!(
                empty.evaluate(&facts(ACME, "Acme", "111122223333", "a")),
                TrustDecision::NotTrusted(NotTrustedReason::UnknownFingerprint { .. })
            ));
        }
    }
}
