//! The application of `template.yaml`, running locally: the local JWT issuer, every function
//! on the Lambda host with its rules and schedules, the HTTP API in front of its routes, and a
//! control endpoint that `local-stack fire` and `local-stack token` talk to.
//!
//! How it maps to what `sam deploy` creates: a function is its bootstrap under the host (not a
//! Lambda); an `EventBridgeRule` is the same rule on moto's bus with an SQS queue the host
//! polls (Lambda's asynchronous invoke: two retries, then the DLQ); a `ScheduleV2` fires on
//! demand or on its rate; the HttpApi is an HTTP server on loopback with the same JWT
//! authorizer rules, trusting the local issuer instead of the template's `JwtIssuer`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use lambda_host::InvokeError;
use local_test_kit::checkout::local_key_fingerprint;
use local_test_kit::clients::{CUSTOMER_ACCOUNT, REGION};
use local_test_kit::resources::{DEAD_LETTER_QUEUE, EVENT_BUS, Infra, STATE_TABLE};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::event_sources::{
    InvocationRecord, MotoClients, Runtime, RuntimeOptions, describe_invocation,
};
use crate::http_api::{HttpApi, InvokeFn, JwtAuthorizerConfig, Route, json_response};
use crate::issuer::LocalIssuer;
use crate::template::{LocalResource, Locals, Template};

/// The stack name the template is deployed under locally (`AWS::StackName`).
pub const STACK_NAME: &str = "license-automation";
/// The local name of the template's `AlertsRule` (and of the queue its topic relay reads).
pub const ALERTS_RULE: &str = "license-automation-AlertsRule";
/// The audience (`JwtAudience`) of the checkout API's tokens locally.
pub const LOCAL_AUDIENCE: &str = "license-automation-local";
/// How long the HTTP API waits for a function, as API Gateway's HTTP API does.
pub const INTEGRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The file in the work directory that tells `local-stack token` and `fire` where the
/// running stack is.
pub const STACK_FILE: &str = "stack.json";

/// How to run the application.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The SAM template.
    pub template: PathBuf,
    /// Where the bootstraps are (`target/debug`).
    pub bin_dir: PathBuf,
    /// Logs, the issuer's key and the stack file.
    pub work_dir: PathBuf,
    /// Port of the HTTP API on 127.0.0.1 (0: a free one).
    pub api_port: u16,
    /// Port of the local issuer on 127.0.0.1 (0: a free one).
    pub issuer_port: u16,
    /// Template parameters that replace the defaults (after the local ones).
    pub parameters: BTreeMap<String, String>,
    /// Whether schedules also fire on their rate.
    pub schedules: bool,
    /// Concurrency per function (logical id or binary), winning over the template's
    /// `ReservedConcurrentExecutions` (a function without either gets the account's
    /// unreserved concurrency).
    pub concurrency: BTreeMap<String, NonZeroUsize>,
}

/// Where the running stack is, as written to `<work dir>/stack.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackFile {
    /// The local issuer (`iss` of minted tokens).
    pub issuer_url: String,
    /// The audience tokens must carry.
    pub audience: String,
    /// The HTTP API, if the template has one.
    pub api_url: Option<String>,
    /// The control endpoint (`local-stack fire`).
    pub control_url: String,
}

impl StackFile {
    /// Reads the stack file of a running stack.
    pub fn read(work_dir: &Path) -> Result<Self> {
        let path = work_dir.join(STACK_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no running stack found ({} is missing): start one with `make demo-keep`",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))
    }
}

/// The running application.
pub struct App {
    /// The functions, their rules and schedules.
    pub runtime: Arc<Runtime>,
    /// The HTTP API, when the template has one.
    pub http_api: Option<HttpApi>,
    /// The local issuer.
    pub issuer: LocalIssuer,
    /// Where it is.
    pub stack_file: StackFile,
    /// The template as resolved locally.
    pub template: Template,
    control: JoinHandle<()>,
    work_dir: PathBuf,
}

impl App {
    /// Starts the issuer, wires the template's functions against the stack's resources and
    /// serves the HTTP API and the control endpoint.
    pub async fn start(
        options: &AppOptions,
        infra: &Infra,
        clients: &MotoClients,
        moto_url: &str,
        license_manager_url: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(&options.work_dir)
            .with_context(|| format!("cannot create {}", options.work_dir.display()))?;
        let issuer = LocalIssuer::start(loopback(options.issuer_port), &options.work_dir)
            .await
            .context("the local issuer cannot start")?;
        let mut parameters = local_parameters(issuer.issuer_url());
        parameters.extend(options.parameters.clone());
        let locals = locals(infra, parameters);
        let template = Template::load(&options.template, &locals)?;
        let runtime = Arc::new(
            Runtime::start(
                &template,
                clients,
                STACK_NAME,
                &RuntimeOptions {
                    bin_dir: options.bin_dir.clone(),
                    log_dir: options.work_dir.join("logs"),
                    moto_url: moto_url.to_owned(),
                    license_manager_url: license_manager_url.to_owned(),
                    extra_environment: BTreeMap::new(),
                    schedules: options.schedules,
                    concurrency: options.concurrency.clone(),
                },
            )
            .await?,
        );
        let http_api = match &template.http_api {
            Some(api) => {
                let routes = runtime
                    .routes()
                    .iter()
                    .filter_map(|route| {
                        let function = runtime.function(&route.function)?.clone();
                        let runtime = runtime.clone();
                        let invoke: InvokeFn = Arc::new(move |event: Value| {
                            let function = function.clone();
                            let runtime = runtime.clone();
                            Box::pin(async move {
                                let invocation = runtime.invoke_sync(&function, "http", event);
                                // API Gateway's HTTP API gives up on an integration after 30 s.
                                match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
                                    Ok(record) => match record.invocation.result {
                                        Err(InvokeError::Throttled { .. }) => {
                                            Ok(too_many_requests())
                                        }
                                        result => result.map_err(anyhow::Error::from),
                                    },
                                    Err(_) => Ok(service_unavailable()),
                                }
                            })
                        });
                        Some(Route {
                            method: route.method.clone(),
                            path: route.path.clone(),
                            function: route.function.clone(),
                            authorization: route.authorized && api.default_authorized,
                            invoke,
                        })
                    })
                    .collect();
                let authorizer = JwtAuthorizerConfig::new(api.issuer.clone(), api.audience.clone());
                Some(HttpApi::start(loopback(options.api_port), routes, Some(authorizer)).await?)
            }
            None => None,
        };
        let (control, control_url) = serve_control(runtime.clone(), clients.sqs.clone()).await?;
        let stack_file = StackFile {
            issuer_url: issuer.issuer_url().to_owned(),
            audience: LOCAL_AUDIENCE.to_owned(),
            api_url: http_api.as_ref().map(|api| api.url().to_owned()),
            control_url,
        };
        let path = options.work_dir.join(STACK_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(&stack_file)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            runtime,
            http_api,
            issuer,
            stack_file,
            template,
            control,
            work_dir: options.work_dir.clone(),
        })
    }

    /// The directory of its logs, key and stack file.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Every invocation from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<InvocationRecord> {
        self.runtime.subscribe()
    }

    /// Stops the HTTP API, the control endpoint, the issuer and the functions.
    pub async fn stop(mut self) {
        self.control.abort();
        if let Some(api) = self.http_api.take() {
            api.shutdown().await;
        }
        self.runtime.stop().await;
        // The issuer stops when dropped, with the rest (see Drop).
    }
}

/// Dropped without [`App::stop`] (an interrupted demo, a failed start): the control endpoint
/// and the pollers stop too, and no stale stack file points at a stack that is gone.
impl Drop for App {
    fn drop(&mut self) {
        self.control.abort();
        let _ = std::fs::remove_file(self.work_dir.join(STACK_FILE));
    }
}

/// The answer to a request whose function was throttled (its concurrency in use): 429 with
/// Lambda's error type, so a client knows to retry later.
fn too_many_requests() -> Value {
    json!({
        "statusCode": 429,
        "headers": {
            "content-type": "application/json",
            "x-amzn-errortype": "TooManyRequestsException",
        },
        "body": json!({"message": "Too Many Requests"}).to_string(),
    })
}

/// API Gateway's answer when the integration timed out.
fn service_unavailable() -> Value {
    json!({
        "statusCode": 503,
        "headers": {"content-type": "application/json"},
        "body": json!({"message": "Service Unavailable"}).to_string(),
    })
}

/// The parameters the local stack sets: the local issuer and audience, a trust policy that
/// trusts the demo's ISV (Acme, account 111122223333) for its `acme-*` products, and the
/// checkout API's issuer: the stack's own account selling to its customers (Contoso).
pub fn local_parameters(issuer_url: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("JwtIssuer".to_owned(), issuer_url.to_owned()),
        ("JwtAudience".to_owned(), LOCAL_AUDIENCE.to_owned()),
        ("TrustPolicy".to_owned(), local_trust_policy().to_string()),
        ("KeyFingerprint".to_owned(), local_key_fingerprint()),
    ])
}

/// The local `TrustPolicy`: the demo's ISV (Acme, account 111122223333) for its `acme-*`
/// products, accepted and activated.
pub fn local_trust_policy() -> Value {
    json!({
        "trusted": [{
            "keyFingerprint": "aws:111122223333:Acme:issuer-fingerprint",
            "issuerName": "Acme",
            "granterAccounts": ["111122223333"],
            "productSkus": ["acme-*"],
        }],
        "untrusted": "ignore",
        "activate": true,
    })
}

/// The local counterparts of the template's resources, in the stack's account.
pub fn locals(infra: &Infra, parameters: BTreeMap<String, String>) -> Locals {
    locals_in(CUSTOMER_ACCOUNT, infra, parameters)
}

/// The local counterparts of the template's resources, with the stack in `account`
/// (`AWS::AccountId`; the ARNs made here name it).
pub fn locals_in(account: &str, infra: &Infra, parameters: BTreeMap<String, String>) -> Locals {
    let resource = |reference: &str, attributes: &[(&str, &str)]| LocalResource {
        reference: reference.to_owned(),
        attributes: attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
    };
    let dead_letter_queue_arn = format!("arn:aws:sqs:{REGION}:{account}:{DEAD_LETTER_QUEUE}");
    let alerts_rule_arn =
        format!("arn:aws:events:{REGION}:{account}:rule/{EVENT_BUS}/{ALERTS_RULE}");
    let key_arn = format!("arn:aws:kms:{REGION}:{account}:key/local");
    let central_forward_role = format!("{STACK_NAME}-CentralForwardRole");
    let central_forward_role_arn = format!("arn:aws:iam::{account}:role/{central_forward_role}");
    let resources = BTreeMap::from([
        (
            "EventBus".to_owned(),
            resource(
                EVENT_BUS,
                &[("Arn", &infra.event_bus_arn), ("Name", EVENT_BUS)],
            ),
        ),
        (
            "StateTable".to_owned(),
            resource(STATE_TABLE, &[("Arn", &infra.state_table_arn)]),
        ),
        (
            "DeadLetterQueue".to_owned(),
            resource(
                &infra.dead_letter_queue_url,
                &[
                    ("Arn", &dead_letter_queue_arn),
                    ("QueueName", DEAD_LETTER_QUEUE),
                    ("QueueUrl", &infra.dead_letter_queue_url),
                ],
            ),
        ),
        (
            "AlertTopic".to_owned(),
            resource(
                &infra.alert_topic_arn,
                &[("TopicArn", &infra.alert_topic_arn)],
            ),
        ),
        (
            "AlertsRule".to_owned(),
            resource(ALERTS_RULE, &[("Arn", &alerts_rule_arn)]),
        ),
        (
            "AlertTopicKey".to_owned(),
            resource("local", &[("Arn", &key_arn)]),
        ),
        (
            "CheckoutApi".to_owned(),
            resource(crate::http_api::LOCAL_API_ID, &[]),
        ),
        (
            "CentralForwardRole".to_owned(),
            resource(&central_forward_role, &[("Arn", &central_forward_role_arn)]),
        ),
    ]);
    Locals {
        parameters,
        resources,
        stack_name: STACK_NAME.to_owned(),
        account: account.to_owned(),
        region: REGION.to_owned(),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[derive(Clone)]
struct Control {
    runtime: Arc<Runtime>,
    sqs: aws_sdk_sqs::Client,
}

/// `POST /fire/{function}`: fires the function's schedules and answers what happened.
async fn serve_control(
    runtime: Arc<Runtime>,
    sqs: aws_sdk_sqs::Client,
) -> Result<(JoinHandle<()>, String)> {
    let listener = tokio::net::TcpListener::bind(loopback(0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = Router::new()
        .route("/fire/{function}", post(fire))
        .route("/redrive", post(redrive))
        .with_state(Control { runtime, sqs });
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::warn!(%err, "the control endpoint stopped");
        }
    });
    Ok((task, url))
}

async fn fire(State(control): State<Control>, UrlPath(function): UrlPath<String>) -> Response {
    match control.runtime.fire(&function, &control.sqs).await {
        Ok(records) => {
            let outcomes: Vec<Value> = records.iter().map(describe_invocation).collect();
            json_response(StatusCode::OK, &Value::Array(outcomes))
        }
        Err(err) => json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": format!("{err:#}")}),
        ),
    }
}

/// `POST /redrive`: replays the invocation records in the functions' failure queues; answers
/// what happened to each message (200 when every replay succeeded, else 502).
async fn redrive(State(control): State<Control>) -> Response {
    let mut outcomes = Vec::new();
    for queue_url in crate::failures::failure_queues(&control.runtime) {
        match crate::failures::redrive(&control.runtime, &control.sqs, &queue_url).await {
            Ok(redriven) => outcomes.extend(redriven),
            Err(err) => {
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    &json!({"message": format!("{err:#}")}),
                );
            }
        }
    }
    let status = if outcomes.iter().all(crate::failures::Redriven::succeeded) {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let described: Vec<Value> = outcomes
        .iter()
        .map(crate::failures::Redriven::describe)
        .collect();
    json_response(status, &Value::Array(described))
}
