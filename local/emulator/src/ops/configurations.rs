//! Self-managed license configurations, their resource associations and usage.
//!
//! Each associated resource consumes one license whatever the counting type: the emulator
//! has no EC2 inventory to read vCPU, core or socket counts from.

use std::collections::HashMap;

use crate::dispatch::{
    Ctx, Field, Filter, apply_filters, arn_account, new_id, page, parse, seq_key,
};
use crate::protocol::{ApiError, ErrorKind};
use crate::shapes::{ProductInformation, Tag};
use crate::state::{Association, ConfigurationRecord, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    name: String,
    description: Option<String>,
    license_counting_type: String,
    license_count: Option<i64>,
    license_count_hard_limit: Option<bool>,
    license_rules: Option<Vec<String>>,
    product_information_list: Option<Vec<ProductInformation>>,
    disassociate_when_not_found: Option<bool>,
    license_expiry: Option<i64>,
    tags: Option<Vec<Tag>>,
}

fn check_count(count: Option<i64>) -> Result<(), ApiError> {
    match count {
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "LicenseCount must not be negative, got {n}"
        ))),
        _ => Ok(()),
    }
}

/// A documented `ProductInformationFilterName`: the comparators and values it accepts
/// (no list: any value).
struct ProductFilterRule {
    name: &'static str,
    comparators: &'static [&'static str],
    values: Option<&'static [&'static str]>,
}

const EQUALS: &[&str] = &["EQUALS"];
const NOT_EQUALS: &[&str] = &["NOT_EQUALS"];

const fn rule(
    name: &'static str,
    comparators: &'static [&'static str],
    values: Option<&'static [&'static str]>,
) -> ProductFilterRule {
    ProductFilterRule {
        name,
        comparators,
        values,
    }
}

/// The filters of `SSM_MANAGED` product information (the API reference's
/// ProductInformation.ProductInformationFilterList); `Tag:<key>` is handled apart.
const SSM_FILTERS: &[ProductFilterRule] = &[
    rule("Application Name", EQUALS, None),
    rule("Application Publisher", EQUALS, None),
    rule("Application Version", EQUALS, None),
    rule("Platform Name", EQUALS, None),
    rule("Platform Type", EQUALS, None),
    rule("AccountId", NOT_EQUALS, None),
    rule(
        "License Included",
        &["EQUALS", "NOT_EQUALS"],
        Some(&[
            "sql-server-enterprise",
            "sql-server-standard",
            "sql-server-web",
            "windows-server-datacenter",
        ]),
    ),
];

/// The filters of `RDS` product information.
const RDS_FILTERS: &[ProductFilterRule] = &[
    rule(
        "Engine Edition",
        EQUALS,
        Some(&[
            "oracle-ee",
            "oracle-se",
            "oracle-se1",
            "oracle-se2",
            "db2-se",
            "db2-ae",
        ]),
    ),
    rule(
        "License Pack",
        EQUALS,
        Some(&[
            "data guard",
            "diagnostic pack sqlt",
            "tuning pack sqlt",
            "ols",
            "olap",
        ]),
    ),
];

/// A `Tag:<key>` filter excludes tagged resources: NOT_EQUALS, values optional.
const TAG_FILTER: ProductFilterRule = rule("Tag:<key>", NOT_EQUALS, None);

/// Checks a ProductInformationList as the API reference documents it: ResourceType
/// SSM_MANAGED or RDS, the filter names of that type, their comparators and values.
fn check_product_information(list: &[ProductInformation]) -> Result<(), ApiError> {
    for info in list {
        let resource_type = info["ResourceType"].as_str().unwrap_or("");
        let rules = match resource_type {
            "SSM_MANAGED" => SSM_FILTERS,
            "RDS" => RDS_FILTERS,
            other => {
                return Err(ApiError::invalid(format!(
                    "ProductInformation ResourceType '{other}' is invalid; the possible values \
                     are SSM_MANAGED | RDS"
                )));
            }
        };
        let filters = info["ProductInformationFilterList"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for filter in filters {
            let name = filter["ProductInformationFilterName"]
                .as_str()
                .unwrap_or("");
            let comparator = filter["ProductInformationFilterComparator"]
                .as_str()
                .unwrap_or("");
            let tag_key = name.strip_prefix("Tag:");
            let rule = match tag_key {
                Some(key) if resource_type == "SSM_MANAGED" && !key.is_empty() => &TAG_FILTER,
                _ => rules.iter().find(|r| r.name == name).ok_or_else(|| {
                    let mut names: Vec<&str> = rules.iter().map(|r| r.name).collect();
                    if resource_type == "SSM_MANAGED" {
                        names.push(TAG_FILTER.name);
                    }
                    ApiError::invalid(format!(
                        "ProductInformationFilterName '{name}' is invalid for ResourceType \
                         {resource_type}; the possible names are: {}",
                        names.join(", ")
                    ))
                })?,
            };
            if !rule.comparators.contains(&comparator) {
                return Err(ApiError::invalid(format!(
                    "ProductInformationFilterComparator '{comparator}' is invalid for filter \
                     '{name}'; it accepts {}",
                    rule.comparators.join(", ")
                )));
            }
            let values = filter["ProductInformationFilterValue"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            for value in values {
                let value = value.as_str().unwrap_or("");
                let accepted = match (rule.name, rule.values) {
                    ("AccountId", _) => {
                        value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
                    }
                    (_, Some(allowed)) => allowed.contains(&value),
                    (_, None) => true,
                };
                if !accepted {
                    return Err(ApiError::invalid(format!(
                        "ProductInformationFilterValue '{value}' is invalid for filter '{name}'{}",
                        rule.values
                            .map(|v| format!("; the possible values are: {}", v.join(" | ")))
                            .unwrap_or_else(|| "; expected a 12-digit account id".into())
                    )));
                }
            }
        }
    }
    Ok(())
}

pub fn create(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateRequest = parse(input)?;
    check_count(req.license_count)?;
    check_product_information(req.product_information_list.as_deref().unwrap_or_default())?;
    let id = format!("lic-{}", new_id());
    let arn = format!(
        "arn:aws:license-manager:{}:{}:license-configuration:{id}",
        ctx.region, ctx.account
    );
    let seq = ctx.state.next_seq();
    ctx.state.configurations.insert(
        arn.clone(),
        ConfigurationRecord {
            owner: ctx.account.to_string(),
            seq,
            id,
            name: req.name,
            description: req.description,
            counting_type: req.license_counting_type,
            license_count: req.license_count,
            hard_limit: req.license_count_hard_limit.unwrap_or(false),
            license_rules: req.license_rules.unwrap_or_default(),
            product_information: req.product_information_list.unwrap_or_default(),
            disassociate_when_not_found: req.disassociate_when_not_found,
            license_expiry: req.license_expiry,
            status: "AVAILABLE".into(),
        },
    );
    if let Some(tags) = req.tags {
        ctx.state.tags.insert(arn.clone(), tags);
    }
    Ok(json!({ "LicenseConfigurationArn": arn }))
}

/// The caller's configuration `arn`.
fn owned<'a>(ctx: &'a Ctx<'_>, arn: &str) -> Result<&'a ConfigurationRecord, ApiError> {
    ctx.state
        .configurations
        .get(arn)
        .filter(|c| c.owner == ctx.account)
        .ok_or_else(|| ApiError::invalid(format!("License configuration {arn} not found")))
}

fn associations<'a>(state: &'a State, arn: &'a str) -> impl Iterator<Item = &'a Association> {
    state
        .associations
        .iter()
        .filter(move |a| a.configuration_arn == arn)
}

/// Licenses consumed by the resources associated with configuration `arn`.
/// Resource type of an AMI: associating one tracks the instances launched from it and
/// consumes nothing itself.
const AMI: &str = "EC2_AMI";

fn consumed(state: &State, arn: &str) -> i64 {
    consumed_by(associations(state, arn))
}

fn consumed_by<'a>(associations: impl IntoIterator<Item = &'a Association>) -> i64 {
    let count = associations
        .into_iter()
        .filter(|a| a.resource_type != AMI)
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn per_type<'a>(associations: impl IntoIterator<Item = &'a Association>) -> Vec<Value> {
    let mut counts: std::collections::BTreeMap<&str, i64> = Default::default();
    for a in associations {
        *counts.entry(a.resource_type.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(t, n)| json!({ "ResourceType": t, "ConsumedLicenses": n }))
        .collect()
}

/// The configuration as the API describes it; `associations` are its own.
fn describe(arn: &str, c: &ConfigurationRecord, associations: &[&Association]) -> Value {
    let summary = per_type(associations.iter().copied());
    let managed: Vec<Value> = summary
        .iter()
        .map(|s| json!({ "ResourceType": s["ResourceType"], "AssociationCount": s["ConsumedLicenses"] }))
        .collect();
    let mut v = json!({
        "LicenseConfigurationId": c.id,
        "LicenseConfigurationArn": arn,
        "Name": c.name,
        "LicenseCountingType": c.counting_type,
        "LicenseRules": c.license_rules,
        "LicenseCountHardLimit": c.hard_limit,
        "ConsumedLicenses": consumed_by(associations.iter().copied()),
        "Status": c.status,
        "OwnerAccountId": c.owner,
        "ConsumedLicenseSummaryList": summary,
        "ManagedResourceSummaryList": managed,
        "ProductInformationList": c.product_information,
    });
    let optional = [
        ("Description", c.description.as_ref().map(|d| json!(d))),
        ("LicenseCount", c.license_count.map(|n| json!(n))),
        (
            "DisassociateWhenNotFound",
            c.disassociate_when_not_found.map(|b| json!(b)),
        ),
        ("LicenseExpiry", c.license_expiry.map(|n| json!(n))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            v[key] = value;
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArnRequest {
    license_configuration_arn: String,
}

pub fn get(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ArnRequest = parse(input)?;
    let arn = req.license_configuration_arn;
    let c = owned(ctx, &arn)?;
    let own: Vec<&Association> = associations(ctx.state, &arn).collect();
    let mut v = describe(&arn, c, &own);
    v["Tags"] = json!(ctx.state.tags.get(&arn).cloned().unwrap_or_default());
    Ok(v)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateRequest {
    license_configuration_arn: String,
    license_configuration_status: Option<String>,
    license_rules: Option<Vec<String>>,
    license_count: Option<i64>,
    license_count_hard_limit: Option<bool>,
    name: Option<String>,
    description: Option<String>,
    product_information_list: Option<Vec<ProductInformation>>,
    disassociate_when_not_found: Option<bool>,
    license_expiry: Option<i64>,
}

pub fn update(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: UpdateRequest = parse(input)?;
    check_count(req.license_count)?;
    check_product_information(req.product_information_list.as_deref().unwrap_or_default())?;
    owned(ctx, &req.license_configuration_arn)?;
    let Some(c) = ctx
        .state
        .configurations
        .get_mut(&req.license_configuration_arn)
    else {
        return Err(ApiError::invalid("License configuration not found"));
    };
    if let Some(s) = req.license_configuration_status {
        c.status = s;
    }
    if let Some(r) = req.license_rules {
        c.license_rules = r;
    }
    if req.license_count.is_some() {
        c.license_count = req.license_count;
    }
    if let Some(h) = req.license_count_hard_limit {
        c.hard_limit = h;
    }
    if let Some(n) = req.name {
        c.name = n;
    }
    if req.description.is_some() {
        c.description = req.description;
    }
    if let Some(p) = req.product_information_list {
        c.product_information = p;
    }
    if req.disassociate_when_not_found.is_some() {
        c.disassociate_when_not_found = req.disassociate_when_not_found;
    }
    if req.license_expiry.is_some() {
        c.license_expiry = req.license_expiry;
    }
    Ok(json!({}))
}

pub fn delete(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ArnRequest = parse(input)?;
    let arn = req.license_configuration_arn;
    owned(ctx, &arn)?;
    // AWS: "You cannot delete a license configuration that is in use."
    let in_use = ctx
        .state
        .associations
        .iter()
        .filter(|a| a.configuration_arn == arn)
        .count();
    if in_use > 0 {
        return Err(ApiError::invalid(format!(
            "License configuration {arn} is in use by {in_use} resource(s); \
             remove their license specifications before deleting it"
        )));
    }
    ctx.state.configurations.remove(&arn);
    ctx.state.tags.remove(&arn);
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    license_configuration_arns: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub fn list(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    // One pass over the associations, not one per configuration, and (without filters) only
    // the page's configurations described: a page of 100 out of 10,000 configurations took
    // ~40 ms, so a sweep's 100 serial pages took 4 s.
    let mut by_configuration: HashMap<&str, Vec<&Association>> = HashMap::new();
    for a in &ctx.state.associations {
        by_configuration
            .entry(a.configuration_arn.as_str())
            .or_default()
            .push(a);
    }
    let own = |arn: &str| by_configuration.get(arn).map_or(&[][..], Vec::as_slice);
    let mut chosen: Vec<(u64, &String, &ConfigurationRecord)> = ctx
        .state
        .configurations
        .iter()
        .filter(|(arn, c)| {
            c.owner == ctx.account
                && req
                    .license_configuration_arns
                    .as_ref()
                    .is_none_or(|arns| arns.is_empty() || arns.contains(arn))
        })
        .map(|(arn, c)| (c.seq, arn, c))
        .collect();
    chosen.sort_by_key(|(seq, ..)| *seq);
    if req.filters.is_empty() {
        // The page holds ARNs until it is cut; then its items are described.
        let rows = chosen
            .iter()
            .map(|(seq, arn, _)| (seq_key(*seq), Value::String((*arn).clone())))
            .collect();
        let mut out = page(
            ctx,
            rows,
            "LicenseConfigurations",
            req.max_results,
            req.next_token.as_deref(),
        )?;
        if let Some(items) = out
            .get_mut("LicenseConfigurations")
            .and_then(Value::as_array_mut)
        {
            for item in items {
                let described = item.as_str().and_then(|arn| {
                    let (arn, c) = ctx.state.configurations.get_key_value(arn)?;
                    Some(describe(arn, c, own(arn)))
                });
                if let Some(described) = described {
                    *item = described;
                }
            }
        }
        return Ok(out);
    }
    let rows: Vec<(u64, Value)> = chosen
        .into_iter()
        .map(|(seq, arn, c)| (seq, describe(arn, c, own(arn))))
        .collect();
    let fields: &[Field<(u64, Value)>] = &[
        ("licenseCountingType", |(_, v)| {
            vec![v["LicenseCountingType"].as_str().unwrap_or("").to_string()]
        }),
        ("enforceLicenseCount", |(_, v)| {
            vec![
                v["LicenseCountHardLimit"]
                    .as_bool()
                    .unwrap_or(false)
                    .to_string(),
            ]
        }),
        ("usagelimitExceeded", |(_, v)| {
            let exceeded = v["LicenseCount"]
                .as_i64()
                .is_some_and(|n| v["ConsumedLicenses"].as_i64().unwrap_or(0) > n);
            vec![exceeded.to_string()]
        }),
    ];
    let rows = apply_filters(rows, &req.filters, fields)?;
    let rows = rows.into_iter().map(|(seq, v)| (seq_key(seq), v)).collect();
    page(
        ctx,
        rows,
        "LicenseConfigurations",
        req.max_results,
        req.next_token.as_deref(),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationsRequest {
    license_configuration_arn: String,
    #[serde(default)]
    filters: Vec<Filter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub fn list_associations(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: AssociationsRequest = parse(input)?;
    owned(ctx, &req.license_configuration_arn)?;
    let items = associations(ctx.state, &req.license_configuration_arn)
        .map(|a| {
            let mut v = json!({
                "ResourceArn": a.resource_arn,
                "ResourceType": a.resource_type,
                "ResourceOwnerId": a.resource_owner,
                "AssociationTime": a.time,
            });
            if let Some(scope) = &a.ami_association_scope {
                v["AmiAssociationScope"] = json!(scope);
            }
            (association_key(a), v)
        })
        .collect();
    page(
        ctx,
        items,
        "LicenseConfigurationAssociations",
        req.max_results,
        req.next_token.as_deref(),
    )
}

pub fn list_usage(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: AssociationsRequest = parse(input)?;
    owned(ctx, &req.license_configuration_arn)?;
    // An AMI consumes no license: only the instances launched from it do.
    let rows: Vec<&Association> = associations(ctx.state, &req.license_configuration_arn)
        .filter(|a| a.resource_type != AMI)
        .collect();
    let fields: &[Field<&Association>] = &[
        ("resourceArn", |a| vec![a.resource_arn.clone()]),
        ("resourceType", |a| vec![a.resource_type.clone()]),
        ("resourceAccount", |a| vec![a.resource_owner.clone()]),
    ];
    let rows = apply_filters(rows, &req.filters, fields)?;
    let items = rows
        .into_iter()
        .map(|a| {
            (
                association_key(a),
                json!({
                    "ResourceArn": a.resource_arn,
                    "ResourceType": a.resource_type,
                    "ResourceStatus": "running",
                    "ResourceOwnerId": a.resource_owner,
                    "AssociationTime": a.time,
                    "ConsumedLicenses": 1,
                }),
            )
        })
        .collect();
    page(
        ctx,
        items,
        "LicenseConfigurationUsageList",
        req.max_results,
        req.next_token.as_deref(),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FailuresRequest {
    license_configuration_arn: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// Failed license-configuration operations: association changes either succeed or are
/// refused synchronously here, so none are ever recorded as failed.
pub fn list_failures(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: FailuresRequest = parse(input)?;
    owned(ctx, &req.license_configuration_arn)?;
    page(
        ctx,
        Vec::new(),
        "LicenseOperationFailureList",
        req.max_results,
        req.next_token.as_deref(),
    )
}

/// The License Manager resource type of an ARN.
pub fn resource_type(arn: &str) -> Option<&'static str> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    match (service, resource.split('/').next().unwrap_or("")) {
        ("ec2", "instance") => Some("EC2_INSTANCE"),
        ("ec2", "dedicated-host" | "host") => Some("EC2_HOST"),
        ("ec2", "image") => Some("EC2_AMI"),
        ("rds", _) => Some("RDS"),
        ("ssm", "managed-instance") => Some("SYSTEMS_MANAGER_MANAGED_INSTANCE"),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Specification {
    license_configuration_arn: String,
    ami_association_scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateSpecificationsRequest {
    resource_arn: String,
    #[serde(default)]
    add_license_specifications: Vec<Specification>,
    #[serde(default)]
    remove_license_specifications: Vec<Specification>,
}

pub fn update_specifications(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: UpdateSpecificationsRequest = parse(input)?;
    let rtype = resource_type(&req.resource_arn).ok_or_else(|| {
        ApiError::invalid(format!(
            "ResourceArn '{}' is not an EC2 instance, host or image, an RDS resource or an SSM \
             managed instance",
            req.resource_arn
        ))
    })?;
    let owner = arn_account(&req.resource_arn)
        .unwrap_or(ctx.account)
        .to_string();
    for spec in req
        .add_license_specifications
        .iter()
        .chain(&req.remove_license_specifications)
    {
        owned(ctx, &spec.license_configuration_arn)?;
    }
    let is_associated = |state: &State, config: &str| {
        state
            .associations
            .iter()
            .any(|a| a.configuration_arn == config && a.resource_arn == req.resource_arn)
    };
    for spec in &req.add_license_specifications {
        let arn = spec.license_configuration_arn.as_str();
        if is_associated(ctx.state, arn) {
            continue;
        }
        let c = owned(ctx, arn)?;
        let used = consumed(ctx.state, arn);
        if rtype != AMI
            && c.hard_limit
            && let Some(limit) = c.license_count
            && used + 1 > limit
        {
            return Err(ApiError::new(
                ErrorKind::LicenseUsage,
                format!(
                    "License count limit exceeded: configuration {arn} has a hard limit of {limit} \
                     and {used} licenses are consumed"
                ),
            ));
        }
    }
    let now = ctx.now_unix();
    for spec in req.add_license_specifications {
        if is_associated(ctx.state, &spec.license_configuration_arn) {
            continue;
        }
        let seq = ctx.state.next_seq();
        ctx.state.associations.push(Association {
            configuration_arn: spec.license_configuration_arn,
            resource_arn: req.resource_arn.clone(),
            resource_type: rtype.to_string(),
            resource_owner: owner.clone(),
            caller: ctx.account.to_string(),
            ami_association_scope: spec.ami_association_scope,
            time: now,
            seq,
        });
    }
    for spec in req.remove_license_specifications {
        ctx.state.associations.retain(|a| {
            !(a.configuration_arn == spec.license_configuration_arn
                && a.resource_arn == req.resource_arn)
        });
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SpecificationsRequest {
    resource_arn: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub fn list_specifications(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: SpecificationsRequest = parse(input)?;
    let items = ctx
        .state
        .associations
        .iter()
        .filter(|a| a.resource_arn == req.resource_arn && a.caller == ctx.account)
        .map(|a| {
            let mut v = json!({ "LicenseConfigurationArn": a.configuration_arn });
            if let Some(scope) = &a.ami_association_scope {
                v["AmiAssociationScope"] = json!(scope);
            }
            (association_key(a), v)
        })
        .collect();
    page(
        ctx,
        items,
        "LicenseSpecifications",
        req.max_results,
        req.next_token.as_deref(),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InventoryFilter {
    name: String,
    condition: String,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InventoryRequest {
    #[serde(default)]
    filters: Vec<InventoryFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn inventory_field(item: &Value, name: &str) -> Result<Option<String>, ApiError> {
    let key = match name {
        "account_id" => "ResourceOwningAccountId",
        "resource_id" => "ResourceId",
        "platform" => "Platform",
        "application_name" | "license_included" => return Ok(None),
        other if other.starts_with("tag:") => return Ok(None),
        other => {
            return Err(ApiError::invalid(format!(
                "Unsupported inventory filter '{other}'. Supported: account_id, application_name, \
                 license_included, platform, resource_id, tag:<key>"
            )));
        }
    };
    Ok(item[key].as_str().map(str::to_string))
}

fn inventory_match(have: Option<&str>, condition: &str, want: &str) -> bool {
    match (condition, have) {
        ("EQUALS", Some(h)) => h == want,
        ("NOT_EQUALS", h) => h != Some(want),
        ("BEGINS_WITH", Some(h)) => h.starts_with(want),
        ("CONTAINS", Some(h)) => h.contains(want),
        _ => false,
    }
}

/// The caller's resources known through license-configuration associations.
pub fn list_resource_inventory(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: InventoryRequest = parse(input)?;
    let mut seen = std::collections::BTreeSet::new();
    let mut items = Vec::new();
    for a in ctx
        .state
        .associations
        .iter()
        .filter(|a| a.caller == ctx.account || a.resource_owner == ctx.account)
    {
        if !seen.insert(a.resource_arn.clone()) {
            continue;
        }
        let id = a
            .resource_arn
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(&a.resource_arn);
        let region = a.resource_arn.split(':').nth(3).unwrap_or("");
        items.push((
            association_key(a),
            json!({
                "ResourceId": id,
                "ResourceArn": a.resource_arn,
                "ResourceType": a.resource_type,
                "ResourceOwningAccountId": a.resource_owner,
                "Region": region,
            }),
        ));
    }
    let mut kept = Vec::new();
    for item in items {
        let mut keep = true;
        for f in &req.filters {
            let have = inventory_field(&item.1, &f.name)?;
            keep &= inventory_match(
                have.as_deref(),
                &f.condition,
                f.value.as_deref().unwrap_or(""),
            );
        }
        if keep {
            kept.push(item);
        }
    }
    page(
        ctx,
        kept,
        "ResourceInventoryList",
        req.max_results,
        req.next_token.as_deref(),
    )
}

/// The list position of an association: creation order, then its ARNs.
fn association_key(a: &Association) -> String {
    format!(
        "{}/{}/{}",
        seq_key(a.seq),
        a.resource_arn,
        a.configuration_arn
    )
}

/// Used by tags: whether `arn` is a configuration owned by `account`.
pub fn owns(state: &State, account: &str, arn: &str) -> bool {
    state
        .configurations
        .get(arn)
        .is_some_and(|c| c.owner == account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_come_from_the_arn() {
        assert_eq!(
            resource_type("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"),
            Some("EC2_INSTANCE")
        );
        assert_eq!(
            resource_type("arn:aws:ec2:us-east-1:111122223333:image/ami-1"),
            Some("EC2_AMI")
        );
        assert_eq!(
            resource_type("arn:aws:rds:us-east-1:111122223333:db:prod"),
            Some("RDS")
        );
        assert_eq!(resource_type("arn:aws:s3:::bucket"), None);
        assert_eq!(resource_type("i-0abc"), None);
    }

    #[test]
    fn inventory_conditions() {
        assert!(inventory_match(Some("i-1"), "EQUALS", "i-1"));
        assert!(inventory_match(None, "NOT_EQUALS", "x"));
        assert!(inventory_match(
            Some("Windows Server"),
            "BEGINS_WITH",
            "Windows"
        ));
        assert!(!inventory_match(None, "CONTAINS", "x"));
    }
}
