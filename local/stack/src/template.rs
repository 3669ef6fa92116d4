//! Reads `template.yaml` the way the local stack needs it: every `AWS::Serverless::Function`
//! with its binary, timeout, memory, environment and events, and the HttpApi's JWT authorizer.
//!
//! The YAML short forms (`!Ref`, `!GetAtt`, `!Sub`, `!If`, ...) are turned into their long
//! forms and resolved against parameter defaults, local overrides and the local names of the
//! template's resources. An event type the stack cannot run locally is an error, so a function
//! added to the template either appears locally as it is or fails loudly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use serde_json::{Map, Value};

/// Lambda's defaults where neither the function nor `Globals` says otherwise.
const DEFAULT_TIMEOUT_SECONDS: u64 = 3;
const DEFAULT_MEMORY_MB: u32 = 128;
/// Lambda retries a failed asynchronous invocation twice unless told otherwise.
const DEFAULT_ASYNC_RETRIES: u32 = 2;

/// What a `!Ref` or `!GetAtt` of a template resource means locally.
#[derive(Debug, Clone, Default)]
pub struct LocalResource {
    /// The value of `!Ref` (a name, URL or ARN, as CloudFormation returns for that type).
    pub reference: String,
    /// Values of `!GetAtt <resource>.<attribute>`.
    pub attributes: BTreeMap<String, String>,
}

/// Everything the intrinsic functions are resolved against.
#[derive(Debug, Clone, Default)]
pub struct Locals {
    /// Parameter values that replace the template's defaults.
    pub parameters: BTreeMap<String, String>,
    /// The local counterpart of each resource, by logical id.
    pub resources: BTreeMap<String, LocalResource>,
    /// `AWS::StackName`.
    pub stack_name: String,
    /// `AWS::AccountId`.
    pub account: String,
    /// `AWS::Region`.
    pub region: String,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The functions, in logical-id order.
    pub functions: Vec<FunctionDef>,
    /// The JWT authorizer of the HttpApi, when the template has one.
    pub http_api: Option<HttpApiDef>,
}

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    /// Logical id, e.g. `GrantAcceptorFunction`.
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`), e.g. `grant-acceptor`.
    pub binary: String,
    /// `Timeout`.
    pub timeout: Duration,
    /// `MemorySize`.
    pub memory_mb: u32,
    /// `Environment.Variables`, resolved.
    pub environment: BTreeMap<String, String>,
    /// `EventInvokeConfig.MaximumRetryAttempts`: retries of a failed asynchronous invocation.
    pub async_retries: u32,
    /// `DeadLetterQueue.TargetArn` (after the retries, the event goes there).
    pub dead_letter_queue_arn: Option<String>,
    /// `EventInvokeConfig.DestinationConfig.OnFailure.Destination` of `Type: SQS` (after the
    /// retries, Lambda's invocation record goes there).
    pub on_failure_queue_arn: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel`.
    pub log_level: Option<String>,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`).
    pub log_format: String,
    /// `ReservedConcurrentExecutions`: how many invocations may run at once (`None`: the
    /// account's unreserved concurrency).
    pub reserved_concurrency: Option<u64>,
    /// Its events.
    pub events: Vec<EventDef>,
}

/// One entry of a function's `Events`.
#[derive(Debug, Clone)]
pub struct EventDef {
    /// The event's name, e.g. `GrantChange`.
    pub name: String,
    /// What triggers it.
    pub trigger: Trigger,
}

/// The event sources the local stack runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// `EventBridgeRule`: a rule on a bus, invoking the function asynchronously.
    EventBridgeRule {
        /// The event pattern.
        pattern: Value,
        /// The bus; `None` is the account's default bus.
        bus: Option<String>,
        /// `RuleName`, when the template names the rule.
        rule_name: Option<String>,
        /// `State` is not `DISABLED`.
        enabled: bool,
    },
    /// `ScheduleV2` (or `Schedule`): invoked asynchronously on a schedule.
    Schedule {
        /// `rate(...)` or `cron(...)`.
        expression: String,
        /// The payload (`Input`), with EventBridge Scheduler's `<aws.scheduler.*>` placeholders.
        input: Option<String>,
        /// Whether the schedule is enabled.
        enabled: bool,
    },
    /// `HttpApi`: a route of the HTTP API.
    HttpApi {
        /// `GET`, `POST`, ... or `ANY`.
        method: String,
        /// The route's path, e.g. `/v1/licenses/{licenseId}/usage`.
        path: String,
        /// Whether the route requires the JWT authorizer (`Auth.Authorizer: NONE` turns it off).
        authorized: bool,
    },
}

/// The HttpApi's JWT authorizer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpApiDef {
    /// Logical id of the `AWS::Serverless::HttpApi`.
    pub logical_id: String,
    /// `JwtConfiguration.issuer`.
    pub issuer: String,
    /// `JwtConfiguration.audience`.
    pub audience: Vec<String>,
    /// Whether the API's routes require the JWT authorizer by default.
    pub default_authorized: bool,
}

impl Template {
    /// Reads and resolves the template at `path`.
    pub fn load(path: &Path, locals: &Locals) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, locals).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and resolves a template's text.
    pub fn parse(text: &str, locals: &Locals) -> Result<Self> {
        let yaml: serde_norway::Value =
            serde_norway::from_str(text).context("the template is not valid YAML")?;
        let document = long_form(yaml)?;
        let resolver = Resolver::new(&document, locals)?;
        let resources = document
            .get("Resources")
            .and_then(Value::as_object)
            .context("the template has no Resources")?;
        let globals = document
            .pointer("/Globals/Function")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut functions = Vec::new();
        let mut http_api = None;
        for (logical_id, resource) in resources {
            if let Some(condition) = resource.get("Condition").and_then(Value::as_str)
                && !resolver.condition(condition)?
            {
                continue;
            }
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => functions.push(
                    function(logical_id, resource, &globals, &resolver)
                        .with_context(|| format!("function {logical_id}"))?,
                ),
                Some("AWS::Serverless::HttpApi") => {
                    http_api = Some(
                        http_api_def(logical_id, resource, &resolver)
                            .with_context(|| format!("HttpApi {logical_id}"))?,
                    );
                }
                _ => {}
            }
        }
        Ok(Self {
            functions,
            http_api,
        })
    }

    /// The property at `pointer` (e.g. `/DashboardBody`) of resource `logical_id` in a
    /// template's text, resolved like the functions' (Sub, Join, If, ...); `None` when the
    /// resource or the property is absent or the resource's condition does not hold.
    pub fn resource_property(
        text: &str,
        locals: &Locals,
        logical_id: &str,
        pointer: &str,
    ) -> Result<Option<Value>> {
        let yaml: serde_norway::Value =
            serde_norway::from_str(text).context("the template is not valid YAML")?;
        let document = long_form(yaml)?;
        let resolver = Resolver::new(&document, locals)?;
        let Some(resource) = document.pointer(&format!("/Resources/{logical_id}")) else {
            return Ok(None);
        };
        if let Some(condition) = resource.get("Condition").and_then(Value::as_str)
            && !resolver.condition(condition)?
        {
            return Ok(None);
        }
        match resource.pointer(&format!("/Properties{pointer}")) {
            Some(value) => resolver
                .resolve(value)
                .with_context(|| format!("{logical_id}.Properties{pointer}")),
            None => Ok(None),
        }
    }

    /// [`Template::resource_property`], required: an error naming the resource and the
    /// property when either is absent or the resource's condition does not hold.
    pub fn required_property(
        text: &str,
        locals: &Locals,
        logical_id: &str,
        pointer: &str,
    ) -> Result<Value> {
        Self::resource_property(text, locals, logical_id, pointer)?.with_context(|| {
            format!("{logical_id} has no {pointer} (absent, or its Condition does not hold)")
        })
    }

    /// [`Template::required_property`] that must be a string.
    pub fn required_string(
        text: &str,
        locals: &Locals,
        logical_id: &str,
        pointer: &str,
    ) -> Result<String> {
        Self::required_property(text, locals, logical_id, pointer)?
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{logical_id}{pointer} is not a string"))
    }

    /// The function whose logical id or binary is `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions
            .iter()
            .find(|function| function.logical_id == name || function.binary == name)
    }
}

/// The YAML document as JSON, with every `!Tag value` turned into `{"Fn::Tag": value}`
/// (`!Ref x` into `{"Ref": x}`, `!Condition x` into `{"Condition": x}`).
fn long_form(value: serde_norway::Value) -> Result<Value> {
    use serde_norway::Value as Yaml;
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(n).context("a number out of range")?,
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => {
            Value::Array(items.into_iter().map(long_form).collect::<Result<_>>()?)
        }
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    other => bail!("a mapping key that is not a scalar: {other:?}"),
                };
                object.insert(key, long_form(value)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            let mut inner = long_form(tagged.value)?;
            if key == "Fn::GetAtt"
                && let Value::String(dotted) = &inner
            {
                // `!GetAtt Resource.Attribute` is `Fn::GetAtt: [Resource, Attribute]`.
                let (resource, attribute) = dotted
                    .split_once('.')
                    .with_context(|| format!("!GetAtt {dotted}: expected Resource.Attribute"))?;
                inner = Value::Array(vec![resource.into(), attribute.into()]);
            }
            let mut object = Map::new();
            object.insert(key, inner);
            Value::Object(object)
        }
    })
}

/// Resolves intrinsic functions against parameters, conditions and local resources.
struct Resolver<'a> {
    locals: &'a Locals,
    parameters: BTreeMap<String, String>,
    conditions: Map<String, Value>,
}

impl<'a> Resolver<'a> {
    fn new(document: &Value, locals: &'a Locals) -> Result<Self> {
        let mut parameters = BTreeMap::new();
        if let Some(declared) = document.get("Parameters").and_then(Value::as_object) {
            for (name, declaration) in declared {
                let value = match locals.parameters.get(name) {
                    Some(value) => value.clone(),
                    None => declaration
                        .get("Default")
                        .map(scalar)
                        .transpose()?
                        .unwrap_or_default(),
                };
                parameters.insert(name.clone(), value);
            }
        }
        let conditions = document
            .get("Conditions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(Self {
            locals,
            parameters,
            conditions,
        })
    }

    /// Whether the named condition holds.
    fn condition(&self, name: &str) -> Result<bool> {
        let definition = self
            .conditions
            .get(name)
            .with_context(|| format!("unknown condition {name}"))?;
        self.truth(definition)
    }

    fn truth(&self, value: &Value) -> Result<bool> {
        let (function, argument) =
            single_key(value).with_context(|| format!("not a condition function: {value}"))?;
        let arguments = || {
            argument
                .as_array()
                .with_context(|| format!("{function} takes a list"))
        };
        match function {
            "Fn::Equals" => {
                let pair = arguments()?;
                ensure!(pair.len() == 2, "Fn::Equals takes two values");
                Ok(self.string(&pair[0])? == self.string(&pair[1])?)
            }
            "Fn::Not" => Ok(!self.truth(arguments()?.first().context("Fn::Not is empty")?)?),
            "Fn::And" => arguments()?
                .iter()
                .try_fold(true, |all, item| Ok(all && self.truth(item)?)),
            "Fn::Or" => arguments()?
                .iter()
                .try_fold(false, |any, item| Ok(any || self.truth(item)?)),
            "Condition" => self.condition(argument.as_str().context("Condition takes a name")?),
            other => bail!("unsupported condition function {other}"),
        }
    }

    /// Resolves every intrinsic function inside `value`; `None` is `AWS::NoValue`.
    fn resolve(&self, value: &Value) -> Result<Option<Value>> {
        if let Some((function, argument)) = single_key(value)
            && (function == "Ref" || function.starts_with("Fn::"))
        {
            return self.intrinsic(function, argument);
        }
        Ok(Some(match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .filter_map(|item| self.resolve(item).transpose())
                    .collect::<Result<_>>()?,
            ),
            Value::Object(object) => {
                let mut resolved = Map::new();
                for (key, item) in object {
                    if let Some(item) = self.resolve(item)? {
                        resolved.insert(key.clone(), item);
                    }
                }
                Value::Object(resolved)
            }
            other => other.clone(),
        }))
    }

    fn intrinsic(&self, function: &str, argument: &Value) -> Result<Option<Value>> {
        match function {
            "Ref" => {
                let name = argument.as_str().context("Ref takes a name")?;
                if name == "AWS::NoValue" {
                    return Ok(None);
                }
                Ok(Some(Value::String(self.reference(name)?)))
            }
            "Fn::GetAtt" => {
                let parts = argument.as_array().context("Fn::GetAtt takes a list")?;
                let (Some(resource), Some(attribute)) = (
                    parts.first().and_then(Value::as_str),
                    parts.get(1).and_then(Value::as_str),
                ) else {
                    bail!("Fn::GetAtt takes [Resource, Attribute]");
                };
                Ok(Some(Value::String(self.attribute(resource, attribute)?)))
            }
            "Fn::Sub" => {
                let (text, variables) = match argument {
                    Value::String(text) => (text.as_str(), Map::new()),
                    Value::Array(parts) => (
                        parts
                            .first()
                            .and_then(Value::as_str)
                            .context("Fn::Sub takes a string")?,
                        parts
                            .get(1)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    _ => bail!("Fn::Sub takes a string or [string, variables]"),
                };
                Ok(Some(Value::String(self.substitute(text, &variables)?)))
            }
            "Fn::If" => {
                let parts = argument.as_array().context("Fn::If takes a list")?;
                ensure!(parts.len() == 3, "Fn::If takes [condition, then, else]");
                let name = parts[0].as_str().context("Fn::If needs a condition name")?;
                let chosen = if self.condition(name)? {
                    &parts[1]
                } else {
                    &parts[2]
                };
                self.resolve(chosen)
            }
            "Fn::Join" => {
                let parts = argument.as_array().context("Fn::Join takes a list")?;
                let separator = parts.first().and_then(Value::as_str).unwrap_or_default();
                let items = parts
                    .get(1)
                    .and_then(|items| self.resolve(items).transpose())
                    .transpose()?
                    .unwrap_or(Value::Array(Vec::new()));
                let items = items
                    .as_array()
                    .context("Fn::Join takes a list of values")?;
                let strings = items.iter().map(scalar).collect::<Result<Vec<_>>>()?;
                Ok(Some(Value::String(strings.join(separator))))
            }
            other => bail!("{other} is not supported by the local stack"),
        }
    }

    fn string(&self, value: &Value) -> Result<String> {
        match self.resolve(value)? {
            Some(resolved) => scalar(&resolved),
            None => Ok(String::new()),
        }
    }

    fn reference(&self, name: &str) -> Result<String> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        if let Some(resource) = self.locals.resources.get(name) {
            return Ok(resource.reference.clone());
        }
        Ok(match name {
            "AWS::StackName" => self.locals.stack_name.clone(),
            "AWS::AccountId" => self.locals.account.clone(),
            "AWS::Region" => self.locals.region.clone(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            _ => bail!("Ref {name}: no such parameter, and no local counterpart of that resource"),
        })
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String> {
        self.locals
            .resources
            .get(resource)
            .and_then(|local| local.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| anyhow!("GetAtt {resource}.{attribute}: no local counterpart"))
    }

    /// `Fn::Sub`: `${Name}`, `${Resource.Attribute}` and `${!Literal}`.
    fn substitute(&self, text: &str, variables: &Map<String, Value>) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .with_context(|| format!("Fn::Sub: unclosed ${{ in {text:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&self.string(value)?);
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(resource, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn function(
    logical_id: &str,
    resource: &Value,
    globals: &Value,
    resolver: &Resolver<'_>,
) -> Result<FunctionDef> {
    let binary = resource
        .pointer("/Metadata/BuildProperties/Binary")
        .and_then(Value::as_str)
        .context("no Metadata.BuildProperties.Binary (the cargo binary to run)")?
        .to_owned();
    let properties = resource
        .get("Properties")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    // A function's own property wins over Globals; Environment variables are merged.
    let property = |pointer: &str| -> Result<Option<Value>> {
        match properties
            .pointer(pointer)
            .or_else(|| globals.pointer(pointer))
        {
            Some(value) => resolver.resolve(value),
            None => Ok(None),
        }
    };
    let number = |pointer: &str, default: u64| -> Result<u64> {
        property(pointer)?.map_or(Ok(default), |value| {
            scalar(&value)?
                .parse()
                .with_context(|| format!("{pointer} is not a whole number"))
        })
    };
    let mut environment = BTreeMap::new();
    for source in [globals, &properties] {
        if let Some(variables) = source.pointer("/Environment/Variables") {
            let resolved = resolver.resolve(variables)?.unwrap_or(Value::Null);
            for (name, value) in resolved.as_object().into_iter().flatten() {
                environment.insert(name.clone(), scalar(value)?);
            }
        }
    }
    let mut events = Vec::new();
    if let Some(declared) = properties.get("Events").and_then(Value::as_object) {
        for (name, event) in declared {
            let resolved = resolver.resolve(event)?.unwrap_or(Value::Null);
            events.push(EventDef {
                name: name.clone(),
                trigger: trigger(&resolved).with_context(|| format!("event {name}"))?,
            });
        }
    }
    Ok(FunctionDef {
        logical_id: logical_id.to_owned(),
        binary,
        timeout: Duration::from_secs(number("/Timeout", DEFAULT_TIMEOUT_SECONDS)?),
        memory_mb: u32::try_from(number("/MemorySize", u64::from(DEFAULT_MEMORY_MB))?)
            .context("MemorySize is too large")?,
        environment,
        async_retries: u32::try_from(number(
            "/EventInvokeConfig/MaximumRetryAttempts",
            u64::from(DEFAULT_ASYNC_RETRIES),
        )?)
        .context("MaximumRetryAttempts is too large")?,
        dead_letter_queue_arn: property("/DeadLetterQueue/TargetArn")?
            .map(|value| scalar(&value))
            .transpose()?,
        on_failure_queue_arn: match property("/EventInvokeConfig/DestinationConfig/OnFailure")? {
            Some(on_failure) if on_failure.get("Type").and_then(Value::as_str) == Some("SQS") => {
                on_failure.get("Destination").map(scalar).transpose()?
            }
            _ => None,
        },
        log_level: property("/LoggingConfig/ApplicationLogLevel")?
            .map(|value| scalar(&value))
            .transpose()?,
        log_format: property("/LoggingConfig/LogFormat")?
            .map(|value| scalar(&value))
            .transpose()?
            .unwrap_or_else(|| "Text".to_owned()),
        reserved_concurrency: property("/ReservedConcurrentExecutions")?
            .map(|value| {
                scalar(&value)?
                    .parse()
                    .context("ReservedConcurrentExecutions is not a whole number")
            })
            .transpose()?,
        events,
    })
}

/// The local counterpart of one (resolved) event, or an error naming what has none.
fn trigger(event: &Value) -> Result<Trigger> {
    let kind = event
        .get("Type")
        .and_then(Value::as_str)
        .context("no Type")?;
    let properties = event.get("Properties").cloned().unwrap_or(Value::Null);
    let text = |name: &str| properties.get(name).map(scalar).transpose();
    match kind {
        "EventBridgeRule" | "CloudWatchEvent" => {
            // The function gets the whole event locally; a rule that reshapes it would not
            // be run as deployed.
            for reshaping in ["Input", "InputPath", "InputTransformer", "Target"] {
                if properties.get(reshaping).is_some() {
                    bail!("{reshaping} on an EventBridgeRule has no local counterpart yet");
                }
            }
            Ok(Trigger::EventBridgeRule {
                pattern: properties
                    .get("Pattern")
                    .cloned()
                    .context("an EventBridgeRule needs a Pattern")?,
                bus: text("EventBusName")?.filter(|bus| bus != "default"),
                rule_name: text("RuleName")?,
                enabled: text("State")?.is_none_or(|state| state != "DISABLED"),
            })
        }
        "ScheduleV2" | "Schedule" => {
            let expression = text(if kind == "ScheduleV2" {
                "ScheduleExpression"
            } else {
                "Schedule"
            })?
            .context("a schedule needs its expression")?;
            let enabled = match (text("State")?, properties.get("Enabled")) {
                (Some(state), _) => state != "DISABLED",
                (None, Some(Value::Bool(enabled))) => *enabled,
                _ => true,
            };
            Ok(Trigger::Schedule {
                expression,
                input: text("Input")?,
                enabled,
            })
        }
        "HttpApi" => Ok(Trigger::HttpApi {
            method: text("Method")?
                .unwrap_or_else(|| "ANY".to_owned())
                .to_uppercase(),
            path: text("Path")?.unwrap_or_else(|| "/{proxy+}".to_owned()),
            authorized: properties
                .pointer("/Auth/Authorizer")
                .and_then(Value::as_str)
                .is_none_or(|authorizer| authorizer != "NONE"),
        }),
        other => bail!(
            "event type {other} has no local counterpart in the local stack \
             (supported: EventBridgeRule, ScheduleV2, Schedule, HttpApi)"
        ),
    }
}

fn http_api_def(logical_id: &str, resource: &Value, resolver: &Resolver<'_>) -> Result<HttpApiDef> {
    let auth = resource
        .pointer("/Properties/Auth")
        .map(|auth| resolver.resolve(auth))
        .transpose()?
        .flatten()
        .unwrap_or(Value::Null);
    let default = auth
        .get("DefaultAuthorizer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let configuration = auth
        .pointer(&format!("/Authorizers/{default}/JwtConfiguration"))
        .with_context(|| format!("the default authorizer {default:?} is not a JWT authorizer"))?;
    let issuer = configuration
        .get("issuer")
        .map(scalar)
        .transpose()?
        .context("JwtConfiguration.issuer is missing")?;
    let audience = configuration
        .get("audience")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(scalar).collect::<Result<Vec<_>>>())
        .transpose()?
        .unwrap_or_default();
    Ok(HttpApiDef {
        logical_id: logical_id.to_owned(),
        issuer,
        audience,
        default_authorized: !default.is_empty(),
    })
}

/// The only key of a one-key object.
fn single_key(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object
        .iter()
        .next()
        .map(|(key, value)| (key.as_str(), value))
}

/// A scalar as CloudFormation passes it to a string property.
fn scalar(value: &Value) -> Result<String> {
    Ok(match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => bail!("expected a scalar, found {other}"),
    })
}
