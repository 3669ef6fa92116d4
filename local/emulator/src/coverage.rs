//! `docs/emulator-coverage.md`, generated from the embedded model and the dispatch table.

use crate::{events, kms, model, ops};

/// The command that regenerates the coverage document.
pub const REGENERATE: &str =
    "cargo run -p license-manager-local -- coverage > docs/emulator-coverage.md";

/// How the implemented operations behave, appended to the coverage table.
const NOTES: &str = "\
## Behaviour notes

- Wire protocol: awsJson1_1, `POST /` with `X-Amz-Target: AWSLicenseManager.<Operation>`.
  Every request is validated against the embedded model (required members, types, enums,
  lengths, ranges; all problems are listed) before it reaches an operation. Patterns are not
  enforced, except ClientToken's (below). Bodies over 1 MiB, malformed JSON and non-JSON content types are refused with
  `ValidationException`; an unknown target answers `UnknownOperationException`.
- Errors are `{\"__type\": \"<Name>Exception\", \"message\": ...}`. The model declares no HTTP
  status codes, so client errors are 400, `ServerInternalException` 500 and
  `RateLimitExceededException` 429. An error an operation does not declare in the model is
  answered as `InvalidParameterValueException` (or `ValidationException`), e.g. GetLicense of
  an unknown ARN.
- Quotas: `--rate-limit CheckoutLicense=10` (repeatable) limits an operation to N requests
  per second per account (a token bucket holding one second of requests, at least one); a
  call past it is refused before it changes anything with `RateLimitExceededException`, HTTP
  429 (the `httpError` of the service's Smithy model; the SDK model above declares no
  status). No operation is limited by default.
- Accounts: the SigV4 access key id when it is 12 digits, else `--account-id`. Signatures
  are not verified.
- Grants: PENDING_ACCEPT -> AcceptGrant (grantee only) -> DISABLED -> CreateGrantVersion
  `Status: ACTIVE` (grantee only) -> ACTIVE; RejectGrant -> REJECTED; DeleteGrant (granter,
  current `Version`) -> DELETED.
- CheckoutLicense picks the most recent AVAILABLE license with the ProductSKU and
  KeyFingerprint (and Beneficiary when given) that the caller issued or received through an
  ACTIVE grant allowing CheckoutLicense. Counted entitlements refuse past MaxCount with
  `NoEntitlementsAllowedException` unless Overage; `Unit: None` entitlements are unlimited.
  PROVISIONAL checkouts hold their units for the license's
  `ProvisionalConfiguration.MaxTimeToLiveInMinutes` (60 when absent); PERPETUAL ones forever
  and cannot be checked in or extended.
- Licenses version on CreateLicenseVersion (a given SourceVersion must be current);
  DeleteLicense needs the current SourceVersion. An AVAILABLE license past `Validity.End`
  reads EXPIRED and refuses checkouts with `NoEntitlementsAllowedException`.
- CheckoutBorrowLicense needs a `BorrowConfiguration` and returns a PS384 JWT with the claims
  of AWS's borrow sample: `licenseArn`, `licenseConsumptionToken`, `entitlementsAllowed`
  (`name`, `value`, `unit`), `nodeId`, `issuedAt`, `expiration`, the times written as AWS's
  example does (`2021-04-13T05:35:47`: UTC, no zone suffix, no `iat`/`exp`).
  CheckoutLicense's SignedToken has the same claims plus `checkoutType` (and `expiration`
  for PROVISIONAL checkouts): **AWS does not document this token's claims**; they are the
  emulator's choice. The JWT header is `{\"alg\": \"PS384\", \"typ\": \"JWT\", \"kid\": ...}`;
  AWS's `kid` is not documented (the emulator writes the KMS key id, or a hash of its own
  key).
- Signing key: a license whose `Issuer.SignKey` names a KMS key (key id, key ARN, alias
  name or alias ARN) has its checkout and borrow tokens signed by that key (RSASSA-PSS
  SHA-384, salt = digest length), so they verify with the key's GetPublicKey. CreateLicense
  and CreateLicenseVersion refuse a SignKey that is not an existing RSA `SIGN_VERIFY` key of
  the caller's account with `InvalidParameterValueException` (`ValidationException` from
  CreateLicenseVersion, which declares no other; the API reference requires
  \"key usage of sign and verify, and support [for] the RSASSA-PSS SHA-256 signing
  algorithm\" but does not say which error AWS answers: this one is the emulator's
  choice). Licenses without a SignKey are signed by the emulator's own RSA key, generated
  once per state file; `--public-key-out PATH` writes its PEM public key at start.
- ClientToken: the current API reference gives `Length: max 2048, Pattern: \\S+` for every
  ClientToken of CreateLicense, CreateLicenseVersion, CreateGrant, CreateGrantVersion,
  CheckoutLicense, CheckoutBorrowLicense and CreateToken; an empty token or one with
  whitespace is refused with `ValidationException`. A limit of 64 characters of
  `[a-zA-Z0-9]` for CheckoutBorrowLicense (as the issue describing this emulator claimed)
  could not be confirmed in the API reference and is not enforced.
- ProductInformationList (Create/UpdateLicenseConfiguration) is checked as the API
  reference documents it, with `InvalidParameterValueException`: ResourceType `SSM_MANAGED`
  or `RDS`; for SSM_MANAGED the filters `Application Name`, `Application Publisher`,
  `Application Version`, `Platform Name`, `Platform Type` (EQUALS), `Tag:<key>` and
  `AccountId` (NOT_EQUALS; a 12-digit value), `License Included` (EQUALS / NOT_EQUALS;
  sql-server-enterprise | sql-server-standard | sql-server-web | windows-server-datacenter);
  for RDS `Engine Edition` (EQUALS; oracle-ee | oracle-se | oracle-se1 | oracle-se2 |
  db2-se | db2-ae) and `License Pack` (EQUALS; data guard | diagnostic pack sqlt | tuning
  pack sqlt | ols | olap). Not confirmed: the exact error AWS answers, and whether AWS also
  accepts other comparators (e.g. BEGINS_WITH) that older documentation mentioned.
- License configurations count one license per associated resource whatever the counting
  type (the emulator has no inventory of vCPUs, cores or sockets); a hard limit refuses an
  association past LicenseCount with `LicenseUsageException`. An AMI (`EC2_AMI`) association
  consumes nothing and is not held to the hard limit (it tracks the instances launched from
  it); it is listed by ListAssociationsForLicenseConfiguration. ListResourceInventory lists the
  resources known through associations. Association changes are refused synchronously, so
  ListFailuresForLicenseConfigurationOperations is always empty.
- ClientToken makes creates and checkouts idempotent for 10 minutes (the model: \"valid for
  10 minutes\"); a replay answers the first response, the same SignedToken included. A
  ClientToken reused with other parameters is refused with `ConflictException` where the
  operation declares it, else `ValidationException`.
- NextToken is an opaque cursor bound to the operation and its parameters: the next page
  starts after the last item returned (deleting listed items skips none), and a token from
  another operation or other filters is refused.
- Checkouts are forgotten once checked in or expired (a repeated CheckInLicense is told
  apart for 10 minutes); GetLicenseUsage counts the units still held.
- DeleteLicense marks the license DELETED; GetLicense with a Version and
  ListLicenseVersions keep reporting each version as it was.
- CreateToken's JWT carries the license ARN as `aud` and TokenProperties as `amr`.
- `--state-file` (mode 0600: it holds the signing key) is rewritten atomically (temporary
  file, fsync, rename, fsync of the directory) after every change, outside the state lock;
  a change becomes visible only once saved, so a failed save answers
  `ServerInternalException` and changes nothing. It is reloaded on start; a corrupt file is
  refused and left untouched.
- CreateGrant: the issuer, or a grantee holding an ACTIVE grant of the license that allows
  `CreateGrant` (redistribution, e.g. by an organization's management account), may call it.
  Grants to an organization or an OU: see Organizations.
";

/// The coverage document: every operation of the model, implemented or not, with totals.
pub fn coverage_markdown() -> String {
    let names = model::operation_names();
    let implemented = names.iter().filter(|n| ops::find(n).is_some()).count();
    let mut out = String::new();
    out.push_str("# license-manager-local: operation coverage\n\n");
    out.push_str(&format!(
        "Generated from the embedded API model (`local/emulator/model/`) and the emulator's \
         dispatch table; do not edit by hand. Regenerate with:\n\n```sh\n{REGENERATE}\n```\n\n"
    ));
    out.push_str(&format!(
        "**{implemented} of {} operations implemented**, {} not implemented. An operation \
         that is not implemented answers HTTP 400 `NotImplementedException` naming it, never \
         a fake success.\n\n",
        names.len(),
        names.len() - implemented
    ));
    out.push_str("| Operation | Status | Summary |\n|---|---|---|\n");
    for name in &names {
        let status = if ops::find(name).is_some() {
            "implemented"
        } else {
            "not implemented"
        };
        out.push_str(&format!(
            "| {name} | {status} | {} |\n",
            model::summary(name)
        ));
    }
    out.push_str(&format!(
        "\nTotals: {implemented} implemented, {} not implemented, {} in the model.\n\n",
        names.len() - implemented,
        names.len()
    ));
    out.push_str(NOTES);
    out.push('\n');
    out.push_str(crate::organization::COVERAGE_SECTION);
    out.push_str(&other_services_section());
    out.push_str(&events_section());
    out
}

/// The "KMS and STS" section: the other services the emulator answers on its port.
fn other_services_section() -> String {
    let mut out = String::from(
        "\n## KMS and STS on the same port\n\n\
         So that a license issuer's script runs as any account, the emulator also answers \
         the KMS operations an issuer uses (awsJson1_1, `X-Amz-Target: TrentService.<Operation>`) \
         and STS GetCallerIdentity (awsQuery: form-encoded `POST /`, XML answer). Point \
         `AWS_ENDPOINT_URL_KMS` and `AWS_ENDPOINT_URL_STS` at it (the local stack exports \
         both). Both decide the caller's account as License Manager does (a 12-digit access \
         key id, else `--account-id`).\n\n\
         | Service | Operation | Status |\n|---|---|---|\n",
    );
    for op in kms::OPERATIONS {
        out.push_str(&format!("| KMS | {} | answered |\n", op.name));
    }
    out.push_str(
        "| KMS | any other operation | `NotImplementedException` naming it (HTTP 400) |\n",
    );
    out.push_str("| STS | GetCallerIdentity | answered |\n");
    out.push_str("| STS | any other action | `InvalidAction` error naming it (HTTP 400) |\n");
    out.push_str(
        "\n- KMS keys: CreateKey makes `SYMMETRIC_DEFAULT` (metadata only: no Encrypt / \
         Decrypt) and `RSA_2048` / `RSA_3072` / `RSA_4096` keys (`SIGN_VERIFY`, or \
         `ENCRYPT_DECRYPT` without encryption operations); other key specs and origins answer \
         `UnsupportedOperationException`. Keys belong to the caller's account, are always \
         Enabled, and are saved in the state file with their private key. A key of another \
         account answers `NotFoundException` (no key policies or grants).\n\
         - GetPublicKey returns the DER SubjectPublicKeyInfo, as KMS does. Sign and Verify \
         accept `RAW` messages (up to 4096 bytes) and `DIGEST`s, with RSASSA_PSS_SHA_256 / \
         384 / 512 (salt length = digest length, as AWS KMS and JWT libraries; moto's KMS \
         uses the maximum salt length) and RSASSA_PKCS1_V1_5_SHA_256 / 384 / 512. A bad \
         signature answers `KMSInvalidSignatureException`; a key of the wrong usage or \
         algorithm `InvalidKeyUsageException`; malformed input `ValidationException`.\n\
         - ListKeys and ListAliases page with `Limit` (1-1000) and `Marker`; CreateAlias \
         refuses an existing name (`AlreadyExistsException`) and `alias/aws/` \
         (`InvalidAliasNameException`).\n\
         - GetCallerIdentity answers `Account` = the caller's account, `UserId` = the \
         account, `Arn` = `arn:aws:iam::<account>:root`. Signatures are not verified.\n",
    );
    out
}

/// The "Events it publishes" section, from [`events::EVENT_DOCS`].
fn events_section() -> String {
    let mut out = String::from(
        "\n## Events it publishes\n\n\
         With `--events-endpoint URL` (library: `Config::events_endpoint`) the emulator \
         publishes License Manager's own events with PutEvents to the `default` bus of each \
         account concerned, one copy per account: `source` `aws.license-manager`, the \
         emulator's region, the ARNs involved in `resources`. The receiving account is named \
         by the request's credentials (access key id = account) and moto's \
         `x-moto-account-id` header. Publishing is best effort, as in AWS: events are queued \
         (up to 10 000, then dropped with a warning) after the change is committed, sent in \
         order in batches of up to 10, a failed PutEvents is logged to stderr and never fails \
         or delays the API call; shutdown flushes the queue for at most a few seconds. \
         Without the option nothing is published. (moto's default rule-target input \
         omits the envelope's `account`; a target whose InputTransformer template is \
         `<aws.events.event.json>` delivers the whole event.)\n\n\
         AWS does not document the `detail` of these events. The `detail` below is **the \
         emulator's own choice** (camelCase, `action` names the change): functions must not \
         rely on it, only on the envelope and the ARNs, and read the truth from the API.\n\n\
         | detail-type | published on (`action`) | to the default bus of | `detail` members |\n\
         |---|---|---|---|\n",
    );
    for doc in events::EVENT_DOCS {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            doc.detail_type.as_str(),
            doc.when,
            doc.recipients,
            doc.detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dispatched_operation_exists_in_the_model() {
        for op in ops::OPERATIONS {
            assert!(
                model::has_operation(op.name),
                "{} is not in the model",
                op.name
            );
        }
    }

    #[test]
    fn the_document_lists_all_operations() {
        let doc = coverage_markdown();
        assert_eq!(
            doc.matches("| implemented |").count(),
            ops::OPERATIONS.len()
        );
        assert_eq!(
            doc.matches(" implemented |").count(),
            model::operation_names().len()
        );
        for op in kms::OPERATIONS {
            assert!(doc.contains(&format!("| KMS | {} | answered |", op.name)));
        }
        assert!(doc.contains("| STS | GetCallerIdentity | answered |"));
    }
}
