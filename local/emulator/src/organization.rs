//! AWS Organizations as License Manager sees it: the organization the emulator knows
//! (`--organization FILE`) and the accounts an organization's or an OU's ARN reaches. The
//! operations that depend on it are in `ops::organizations`; the sources for each behaviour
//! are in the coverage document ([`COVERAGE_SECTION`]).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// An organization: `{"id": "o-…", "managementAccount": "…", "accounts": ["…"],
/// "organizationalUnits": {"ou-…": ["…"]}}` (OUs optional). The management account belongs
/// to the organization whether or not `accounts` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Organization {
    /// `o-` and 10 to 32 lowercase letters or digits.
    pub id: String,
    /// The management account's 12-digit id.
    pub management_account: String,
    /// The member accounts.
    pub accounts: Vec<String>,
    /// OU id (`ou-<root>-<ou>`) -> the accounts directly in it.
    #[serde(default)]
    pub organizational_units: BTreeMap<String, Vec<String>>,
}

/// The "Organizations" section of the coverage document, with AWS's sources.
pub const COVERAGE_SECTION: &str = "\
## Organizations

`--organization FILE` (library: `Config::organization`) tells the emulator one AWS
organization: `{\"id\": \"o-…\", \"managementAccount\": \"…\", \"accounts\": [\"…\"],
\"organizationalUnits\": {\"ou-…\": [\"…\"]}}` (OUs optional; unknown members, malformed
ids and OU members outside `accounts` are refused at start, naming the mistake). The local
stack writes `.local-stack/organization.json` and passes it.

| behaviour | emulator | source |
|---|---|---|
| CreateGrant `Principals` may name an organization (`arn:aws:organizations::<management>:organization/<id>`) or an OU (`arn:aws:organizations::<management>:ou/<id>/<ou>`) | the grant reaches every account of the organization (the management account included), or the OU's accounts, less the granter | API reference, CreateGrant `Principals`: \"An organizational unit (OU), which includes all accounts in the OU. An organization, which will include all accounts across your organization.\" (docs.aws.amazon.com/license-manager/latest/APIReference/API_CreateGrant.html; also AWS::LicenseManager::Grant `Principals`) |
| each member receives a grant of its own | one grant per member account, its own ARN (`GranteePrincipalArn` `arn:aws:iam::<member>:root`, `ParentArn` the organization's grant); the organization's grant itself is `WORKFLOW_COMPLETED` and is listed by the granter's ListDistributedGrants; DeleteGrant of it deletes the members' grants | User Guide, grant statuses: `PENDING_WORKFLOW` \"in the process of being distributed\", `FAILED_WORKFLOW` \"failed to distribute\" (license-manager/latest/userguide/grant-statuses.html). The status a completed distribution shows, and the ParentArn of a member's grant, are **not documented**: the emulator's choice |
| a member's grant from the management account, organization linked in License Manager's settings: accepted, not active | `DISABLED` when the granter is the management account and its UpdateServiceSettings set `OrganizationConfiguration.EnableIntegration: true` | User Guide, grant acceptance: \"You can automatically accept grants that come from the management account of your organization. To enable grant auto-acceptance, link your organization accounts on the settings page ... from the management account\", and \"Grants that are accepted but not yet activated have a status of Disabled\" (license-manager/latest/userguide/grant-acceptance.html) |
| any other grant to a member waits for it | `PENDING_ACCEPT`; the member accepts (AcceptGrant -> `DISABLED`) and activates (CreateGrantVersion `ACTIVE`) as for any grant | same page: \"By default ... a status of Pending Acceptance\" |
| the management account distributes a license it received | CreateGrant by a grantee holding an `ACTIVE` grant of the license that allows `CreateGrant` | User Guide, granting licenses: the `Distribution` license right lets the recipient distribute granted entitlements to other accounts (license-manager/latest/userguide/isv-grant-licenses.html); `CreateGrant` is one of a grant's AllowedOperations (API reference) |
| ListReceivedGrantsForOrganization \"Lists the grants received for all accounts in the organization\" | the grants of `LicenseArn` (required) whose grantee is an account of the organization; filters `ParentArn`, `GranteePrincipalArn`; pages of `MaxResults` 1-100. Only the management account may call it (others: `AccessDeniedException`): who may call it is **not documented**, the emulator's choice | API reference, ListReceivedGrantsForOrganization (license-manager/latest/APIReference/API_ListReceivedGrantsForOrganization.html) |
| events | `Grant Change` (`Created`) for each member's grant to that member's default bus and the granter's; none for the organization's grant to a member (it has no account) | the event's `detail` is the emulator's own (below) |
";

/// Why an organization document was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    /// The file could not be read.
    #[error("cannot read the organization file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The document is not the expected JSON.
    #[error("organization file {path}: {message}")]
    Parse { path: String, message: String },
    /// A value is malformed or inconsistent.
    #[error("organization: {0}")]
    Invalid(String),
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn lower_alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl Organization {
    /// Reads and checks the organization document at `path`.
    pub fn load(path: &Path) -> Result<Self, OrganizationError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| OrganizationError::Read {
            path: shown.clone(),
            source,
        })?;
        let organization: Self =
            serde_json::from_str(&text).map_err(|e| OrganizationError::Parse {
                path: shown,
                message: e.to_string(),
            })?;
        organization.validate()?;
        Ok(organization)
    }

    /// Checks ids (as AWS Organizations writes them) and that every OU member is an account
    /// of the organization.
    pub fn validate(&self) -> Result<(), OrganizationError> {
        let invalid = |m: String| Err(OrganizationError::Invalid(m));
        let id = self.id.strip_prefix("o-").unwrap_or_default();
        if !(10..=32).contains(&id.len()) || !lower_alnum(id) {
            return invalid(format!(
                "id must be o- and 10 to 32 lowercase letters or digits, got '{}'",
                self.id
            ));
        }
        if !is_account(&self.management_account) {
            return invalid(format!(
                "managementAccount must be 12 digits, got '{}'",
                self.management_account
            ));
        }
        for (i, account) in self.accounts.iter().enumerate() {
            if !is_account(account) {
                return invalid(format!("accounts[{i}] must be 12 digits, got '{account}'"));
            }
        }
        for (ou, members) in &self.organizational_units {
            let parts: Vec<&str> = ou
                .strip_prefix("ou-")
                .unwrap_or_default()
                .split('-')
                .collect();
            let well_formed = matches!(parts.as_slice(), [root, unit]
                if (4..=32).contains(&root.len()) && (8..=32).contains(&unit.len())
                    && lower_alnum(root) && lower_alnum(unit));
            if !well_formed {
                return invalid(format!(
                    "organizationalUnits: '{ou}' is not an OU id (ou-<4-32 chars>-<8-32 chars>)"
                ));
            }
            for (i, account) in members.iter().enumerate() {
                if !self.contains(account) {
                    return invalid(format!(
                        "organizationalUnits.{ou}[{i}]: '{account}' is not in accounts"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `account` belongs to the organization (the management account does).
    pub fn contains(&self, account: &str) -> bool {
        account == self.management_account || self.accounts.iter().any(|a| a == account)
    }

    /// The organization's ARN, `arn:aws:organizations::<management>:organization/<id>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:organizations::{}:organization/{}",
            self.management_account, self.id
        )
    }

    /// An OU's ARN, `arn:aws:organizations::<management>:ou/<organization id>/<ou id>`.
    pub fn ou_arn(&self, ou: &str) -> String {
        format!(
            "arn:aws:organizations::{}:ou/{}/{ou}",
            self.management_account, self.id
        )
    }

    /// The accounts a grant principal reaches when it is the organization's ARN (every
    /// account, the management account included) or one of its OUs' (the OU's accounts),
    /// in order; `None` for any other principal.
    pub fn accounts_reached(&self, principal: &str) -> Option<Vec<String>> {
        if principal == self.arn() {
            let mut all = BTreeSet::from([self.management_account.clone()]);
            all.extend(self.accounts.iter().cloned());
            return Some(all.into_iter().collect());
        }
        self.organizational_units
            .iter()
            .find(|(ou, _)| principal == self.ou_arn(ou))
            .map(|(_, members)| {
                let unique: BTreeSet<String> = members.iter().cloned().collect();
                unique.into_iter().collect()
            })
    }
}

/// The status of the grant made to an organization or OU itself, once its members' grants
/// exist: the API's `WORKFLOW_COMPLETED` (AWS documents `PENDING_WORKFLOW` as "being
/// distributed" and `FAILED_WORKFLOW` as "failed to distribute"; which one a finished
/// distribution shows is the emulator's choice). Nobody accepts it; its members accept theirs.
pub const DISTRIBUTED_STATUS: &str = "WORKFLOW_COMPLETED";

/// The accounts a grant by `granter` to `principal` (an organization or OU ARN) reaches: the
/// accounts of `organization` that the ARN names, less the granter itself; an error naming
/// the principal when it is not this organization or one of its OUs.
pub fn grantees(
    organization: Option<&Organization>,
    principal: &str,
    granter: &str,
) -> Result<Vec<String>, String> {
    organization
        .and_then(|o| o.accounts_reached(principal))
        .map(|accounts| accounts.into_iter().filter(|a| a != granter).collect())
        .ok_or_else(|| {
            format!(
                "Principal '{principal}' is neither this emulator's organization nor one of its \
                 OUs (start license-manager-local with --organization FILE)"
            )
        })
}

/// The status a member's grant from `granter` starts in. AWS accepts grants "that come from
/// the management account of your organization" automatically once the organization is
/// linked in License Manager's settings (the granter's UpdateServiceSettings
/// `OrganizationConfiguration.EnableIntegration`, `settings`); an accepted grant that is not
/// yet activated is DISABLED. Any other grant waits in PENDING_ACCEPT for its grantee.
pub fn initial_status(
    organization: Option<&Organization>,
    granter: &str,
    settings: Option<&serde_json::Value>,
) -> &'static str {
    let from_management = organization.is_some_and(|o| o.management_account == granter);
    let integration = settings
        .and_then(|s| s.pointer("/OrganizationConfiguration/EnableIntegration"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if from_management && integration {
        "DISABLED"
    } else {
        "PENDING_ACCEPT"
    }
}

/// Whether `principal` is an AWS Organizations ARN (an organization or an OU).
pub fn is_organizations_arn(principal: &str) -> bool {
    principal.starts_with("arn:aws:organizations::")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn organization() -> Organization {
        Organization {
            id: "o-exampleorg01".into(),
            management_account: "111111111111".into(),
            accounts: vec!["222222222222".into(), "333333333333".into()],
            organizational_units: BTreeMap::from([(
                "ou-ab12-cdefgh34".into(),
                vec!["333333333333".into()],
            )]),
        }
    }

    #[test]
    fn the_organization_arn_reaches_every_account_and_an_ou_arn_its_own() {
        let org = organization();
        assert_eq!(
            org.accounts_reached("arn:aws:organizations::111111111111:organization/o-exampleorg01"),
            Some(vec![
                "111111111111".to_string(),
                "222222222222".into(),
                "333333333333".into()
            ])
        );
        assert_eq!(
            org.accounts_reached(
                "arn:aws:organizations::111111111111:ou/o-exampleorg01/ou-ab12-cdefgh34"
            ),
            Some(vec!["333333333333".to_string()])
        );
        assert_eq!(org.accounts_reached("arn:aws:iam::222222222222:root"), None);
        assert_eq!(
            org.accounts_reached("arn:aws:organizations::999999999999:organization/o-other00000"),
            None
        );
    }

    #[test]
    fn a_malformed_document_is_refused_naming_the_mistake() {
        let mut bad_id = organization();
        bad_id.id = "org-1".into();
        assert!(
            bad_id
                .validate()
                .unwrap_err()
                .to_string()
                .contains("id must be o-")
        );
        let mut bad_account = organization();
        bad_account.accounts[1] = "12345".into();
        assert!(
            bad_account
                .validate()
                .unwrap_err()
                .to_string()
                .contains("accounts[1]")
        );
        let mut stranger = organization();
        stranger
            .organizational_units
            .insert("ou-ab12-zzzzzzzz".into(), vec!["444444444444".into()]);
        let message = stranger.validate().unwrap_err().to_string();
        assert!(message.contains("ou-ab12-zzzzzzzz[0]"), "{message}");
        let mut bad_ou = organization();
        bad_ou.organizational_units.insert("ou-x".into(), vec![]);
        assert!(
            bad_ou
                .validate()
                .unwrap_err()
                .to_string()
                .contains("'ou-x'")
        );
        assert!(organization().validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<Organization, _> = serde_json::from_str(
            r#"{"id":"o-exampleorg01","managementAccount":"111111111111","accounts":[],"ous":{}}"#,
        );
        assert!(parsed.unwrap_err().to_string().contains("ous"));
    }
}
