//! The local stack: moto's server (EventBridge, DynamoDB, SQS, SNS) plus the in-process
//! License Manager emulator, the resources the SAM template creates, and the demo that
//! seeds a readable scenario and runs the flows of AWS's License Manager samples.
//!
//! A new part of the demo is a [`context::Flow`] added to [`flows::all`]. The test world
//! (moto, the template's resources, clients, fixtures) lives in `local-test-kit`, which the
//! packages' tests use without this runner.

pub mod app;
pub mod context;
pub mod control;
pub mod dashboard;
pub mod event_sources;
pub mod failures;
pub mod flows;
pub mod http_api;
pub mod issuer;
pub mod organization;
pub mod report;
pub mod stack;
pub mod template;
pub mod topic_relay;

use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use local_test_kit::bus;
use local_test_kit::checkout::checkout_body;
use local_test_kit::clients::{CUSTOMER_ACCOUNT, Clients, LOCAL_SECRET_KEY, REGION};
use local_test_kit::resources::{EVENT_BUS, EVENT_SOURCE, STATE_TABLE};

use crate::app::{AppOptions, StackFile};
use crate::context::{Context, Settings};
use crate::issuer::TokenRequest;
use crate::organization::OrgOptions;
use crate::report::{Recorder, Summary};
use crate::stack::{Stack, StackOptions};

/// Command line of `local-stack`.
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "The local stack: moto + license-manager-local + the template's functions on a local Lambda host"
)]
pub struct Cli {
    /// What to do; without a command, run the demo.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the demo.
    #[command(flatten)]
    pub options: Options,
}

/// `local-stack` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Mint a token of the local issuer for a customer (use it as `Authorization: Bearer ...`).
    Token {
        /// The `sub` claim: the customer.
        #[arg(long)]
        sub: String,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: u64,
        /// A further claim, `name=value` (repeatable).
        #[arg(long = "claim", value_parser = key_value)]
        claims: Vec<(String, String)>,
        /// The running stack's directory.
        #[arg(long, default_value = ".local-stack")]
        work_dir: PathBuf,
    },
    /// Replay the failed invocations waiting in the dead-letter queue to their functions.
    Redrive {
        /// The running stack's directory.
        #[arg(long, default_value = ".local-stack")]
        work_dir: PathBuf,
    },
    /// Render the template's dashboard from a local run's logs into a self-contained HTML file.
    Dashboard {
        /// The directory of the run (its `logs/`).
        #[arg(long, default_value = ".local-stack")]
        work_dir: PathBuf,
        /// The SAM template whose dashboard is rendered.
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
        /// Where the HTML goes (default: `<work dir>/dashboard.html`).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Fire a function's schedules now, as EventBridge Scheduler would, and print the outcome.
    Fire {
        /// The function: its binary (`grant-acceptor`) or logical id.
        function: String,
        /// The running stack's directory.
        #[arg(long, default_value = ".local-stack")]
        work_dir: PathBuf,
    },
}

/// Options of the demo (the default command).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Port of license-manager-local on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4599)]
    pub port: u16,
    /// Port of the HTTP API (the template's HttpApi) on 127.0.0.1.
    #[arg(long, default_value_t = 4600)]
    pub api_port: u16,
    /// Port of the local JWT issuer on 127.0.0.1.
    #[arg(long, default_value_t = 4598)]
    pub issuer_port: u16,
    /// moto's server executable (created by `scripts/venv.sh dev`).
    #[arg(long, env = "MOTO_SERVER", default_value = ".venv/bin/moto_server")]
    pub moto_server: PathBuf,
    /// Persist the emulator's state in this file (default: in memory only).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Directory for logs, keys and the stack file.
    #[arg(long, default_value = ".local-stack")]
    pub work_dir: PathBuf,
    /// The SAM template whose functions run locally.
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// Directory of the functions' bootstraps (`cargo build` output).
    #[arg(long, default_value = "target/debug")]
    pub bin_dir: PathBuf,
    /// A template parameter, `Name=Value` (repeatable; wins over the local defaults).
    #[arg(long = "parameter", value_parser = key_value)]
    pub parameters: Vec<(String, String)>,
    /// Fire schedules on their rate too (otherwise only with `local-stack fire`).
    #[arg(long)]
    pub schedules: bool,
    /// How many invocations of a function run at once, `Function=N` (logical id or binary;
    /// repeatable; wins over the template's ReservedConcurrentExecutions).
    #[arg(long = "concurrency", value_parser = concurrency)]
    pub concurrency: Vec<(String, NonZeroUsize)>,
    /// After the demo, leave the stack running and print the variables to use it.
    #[arg(long)]
    pub keep_running: bool,
    /// Run the organization demo instead, with N member accounts (N >= 1): the central stack
    /// and N member stacks, each member's functions with its own identity.
    #[arg(long, value_name = "N", value_parser = accounts, conflicts_with_all = ["keep_running", "schedules", "concurrency"])]
    pub accounts: Option<NonZeroUsize>,
    /// The central stack's template (the organization demo's central bus, topic and rules).
    #[arg(long, default_value = "central.yaml")]
    pub central_template: PathBuf,
}

impl Options {
    /// Where and how the stack's servers start.
    pub fn stack_options(&self) -> StackOptions {
        StackOptions {
            moto_server: self.moto_server.clone(),
            port: self.port,
            state_file: self.state_file.clone(),
            work_dir: self.work_dir.clone(),
        }
    }

    /// The organization demo's options, with `accounts` member accounts.
    pub fn org_options(&self, accounts: NonZeroUsize) -> OrgOptions {
        OrgOptions {
            accounts,
            stack: self.stack_options(),
            template: self.template.clone(),
            central_template: self.central_template.clone(),
            bin_dir: self.bin_dir.clone(),
            parameters: self.parameters.iter().cloned().collect(),
        }
    }

    /// The application's options these command-line options describe.
    pub fn app_options(&self) -> AppOptions {
        AppOptions {
            template: self.template.clone(),
            bin_dir: self.bin_dir.clone(),
            work_dir: self.work_dir.clone(),
            api_port: self.api_port,
            issuer_port: self.issuer_port,
            parameters: self.parameters.iter().cloned().collect(),
            schedules: self.schedules,
            concurrency: self.concurrency.iter().cloned().collect(),
        }
    }
}

fn concurrency(text: &str) -> Result<(String, NonZeroUsize), String> {
    let (function, limit) = key_value(text)?;
    let limit = limit.parse().map_err(|_| {
        format!("--concurrency {text:?}: the concurrency must be a whole number above 0")
    })?;
    Ok((function, limit))
}

fn accounts(text: &str) -> Result<NonZeroUsize, String> {
    text.parse::<usize>()
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| {
            format!(
                "{text:?} is not a number of member accounts: the organization needs at \
                 least one (a whole number N >= 1)"
            )
        })
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("expected Name=Value, got {text:?}"))
}

/// Runs what the command line asks: the demo, or a command against a running stack.
pub async fn main(cli: Cli) -> Result<bool> {
    match cli.command {
        None => run(cli.options).await,
        Some(Command::Token {
            sub,
            ttl_minutes,
            claims,
            work_dir,
        }) => {
            let stack = StackFile::read(&work_dir)?;
            let mut request = TokenRequest::new(sub, stack.audience.clone());
            request.ttl = std::time::Duration::from_secs(ttl_minutes.saturating_mul(60));
            for (name, value) in claims {
                request.extra_claims.insert(name, value.into());
            }
            println!(
                "{}",
                issuer::mint_with_key_file(&work_dir, &stack.issuer_url, &request)?
            );
            Ok(true)
        }
        Some(Command::Redrive { work_dir }) => {
            let stack = StackFile::read(&work_dir)?;
            let (status, body) = control::post(&format!("{}/redrive", stack.control_url)).await?;
            println!("{body}");
            Ok(status == 200)
        }
        Some(Command::Dashboard {
            work_dir,
            template,
            output,
        }) => {
            let output = output.unwrap_or_else(|| work_dir.join(dashboard::FILE_NAME));
            dashboard::write(&template, &work_dir, &output)?;
            println!("dashboard: {}", output.display());
            Ok(true)
        }
        Some(Command::Fire { function, work_dir }) => {
            let stack = StackFile::read(&work_dir)?;
            let (status, body) =
                control::post(&format!("{}/fire/{function}", stack.control_url)).await?;
            println!("{body}");
            Ok(status == 200)
        }
    }
}

/// Starts the stack, runs the demo and stops the stack (also on error, Ctrl-C and SIGTERM,
/// including while it starts). `Ok(true)` when every step passed.
pub async fn run(options: Options) -> Result<bool> {
    let stack_options = options.stack_options();
    let organization = match options.accounts {
        Some(accounts) => organization::organization(&organization::member_accounts(accounts)),
        None => stack::local_organization(),
    };
    let mut stop_signals = StopSignals::listen();
    let started = std::time::Instant::now();
    let starting = Stack::start_with(&stack_options, organization);
    let stack = tokio::select! {
        stack = starting => stack?,
        // Dropping the half-started stack kills moto's server (kill_on_drop).
        () = stop_signals.requested() => anyhow::bail!("interrupted while starting the stack"),
    };
    println!(
        "local stack (started in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  moto server      {}  (EventBridge, DynamoDB, SQS, SNS, STS, KMS, ...)",
        stack.moto_url()
    );
    println!(
        "  moto's log       {}",
        options.work_dir.join("moto.log").display()
    );
    println!(
        "  License Manager  {}  (license-manager-local)",
        stack.license_manager_url()
    );

    if let Some(accounts) = options.accounts {
        let org_options = options.org_options(accounts);
        let outcome = tokio::select! {
            outcome = organization::demo(&stack, &org_options, started) => Some(outcome),
            () = stop_signals.requested() => None,
        };
        stack.stop().await;
        let Some(outcome) = outcome else {
            anyhow::bail!("interrupted: stopped moto's server and license-manager-local");
        };
        return Ok(outcome.summary.failed == 0);
    }

    let app_options = options.app_options();
    let outcome = tokio::select! {
        outcome = demo(&stack, &app_options) => Some(outcome),
        () = stop_signals.requested() => None,
    };
    let Some((summary, mut context)) = outcome else {
        stack.stop().await;
        anyhow::bail!("interrupted: stopped moto's server and license-manager-local");
    };

    if options.keep_running {
        println!();
        println!("The stack keeps running. To use it from a shell:");
        for (name, value) in environment(&stack, &context) {
            println!("  export {name}={value}");
        }
        print_try_it(&context);
        println!("Press Ctrl-C to stop it. Events on the project's bus are printed as they come:");
        let watcher = watch_bus(&context);
        stop_signals.requested().await;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        stop(&mut context, stack).await;
        println!("stopped.");
    } else {
        stop(&mut context, stack).await;
    }
    // The last step: the template's dashboard, drawn from what this run logged.
    let dashboard = options.work_dir.join(dashboard::FILE_NAME);
    let drawn = dashboard::write(&options.template, &options.work_dir, &dashboard);
    match &drawn {
        Ok(()) => println!("dashboard: {}", dashboard.display()),
        Err(err) => eprintln!("cannot draw the dashboard: {err:#}"),
    }
    Ok(summary.failed == 0 && drawn.is_ok())
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the moment it is made: a signal that arrives
/// between two waits (say, right after "Press Ctrl-C" is printed) is kept for the next wait,
/// never lost. If no handler can be installed, waiting never ends, so the demo is not mistaken
/// for interrupted.
struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves when a stop signal has arrived since the last call (or since `listen`).
    async fn requested(&mut self) {
        #[cfg(unix)]
        {
            async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
                let delivered = match signal {
                    Some(signal) => signal.recv().await.is_some(),
                    None => false,
                };
                if !delivered {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                () = received(&mut self.interrupt) => {}
                () = received(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Stops the application, then the servers.
pub async fn stop(context: &mut Context, stack: Stack) {
    context.relays.clear();
    if let Some(app) = context.app.take() {
        app.stop().await;
    }
    stack.stop().await;
}

/// Prints each event that reaches the project's bus until aborted.
fn watch_bus(context: &Context) -> Option<tokio::task::JoinHandle<()>> {
    let queue_url = context.events_queue_url().ok()?;
    let sqs = context.clients.sqs.clone();
    Some(tokio::spawn(async move {
        loop {
            match bus::receive(&sqs, &queue_url, 1, std::time::Duration::from_secs(20)).await {
                Ok(events) => {
                    for event in events {
                        println!("  event: {}", bus::describe(&event));
                    }
                }
                Err(err) => {
                    eprintln!("cannot read the project's bus: {err:#}");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    }))
}

/// Commands to try the running stack with.
fn print_try_it(context: &Context) {
    let Some(app) = &context.app else { return };
    println!();
    println!("Try it:");
    if let Some(api) = &app.stack_file.api_url {
        let bearer =
            "-H \"Authorization: Bearer $(cargo run -q -p local-stack -- token --sub customer-a)\"";
        let routes = app.runtime.routes();
        for route in routes
            .iter()
            .filter(|route| route.method == "GET" && !route.path.contains('{'))
        {
            println!("  curl {bearer} {api}{}", route.path);
        }
        if routes
            .iter()
            .any(|route| route.method == "POST" && route.path == "/v1/checkout")
        {
            println!(
                "  curl {bearer} -H 'Content-Type: application/json' -d '{}' {api}/v1/checkout",
                checkout_body(1, Some("laptop-1"))
            );
        }
    }
    println!(
        "  aws events put-events --endpoint-url $AWS_ENDPOINT_URL --entries \\
         '[{{\"Source\":\"aws.license-manager\",\"DetailType\":\"Grant Change\",\"Detail\":\"{{}}\"}}]'   # reaches the Grant Change rules"
    );
    for function in &app.template.functions {
        if function
            .events
            .iter()
            .any(|event| matches!(event.trigger, template::Trigger::Schedule { .. }))
        {
            println!("  cargo run -q -p local-stack -- fire {}", function.binary);
        }
    }
    println!("  tail -f {}/logs/*.log", app.work_dir().display());
}

/// Runs every flow against a started stack, prints the summary line and returns it with
/// what the flows created (the running application included: stop it with [`stop`]).
pub async fn demo(stack: &Stack, app: &AppOptions) -> (Summary, Context) {
    let clients = Clients::connect(&stack.moto_url(), &stack.license_manager_url()).await;
    let mut context = Context::new(clients);
    context.settings = Some(Settings {
        app: app.clone(),
        moto_url: stack.moto_url(),
        license_manager_url: stack.license_manager_url(),
    });
    let mut recorder = Recorder::new();
    for flow in flows::all() {
        flow.run(&mut context, &mut recorder).await;
    }
    let summary = recorder.summary();
    println!();
    println!("{summary}");
    (summary, context)
}

/// The variables a developer exports to use the running stack (as the customer account).
pub fn environment(stack: &Stack, context: &Context) -> Vec<(&'static str, String)> {
    let mut variables = vec![
        ("AWS_ENDPOINT_URL", stack.moto_url()),
        (
            "AWS_ENDPOINT_URL_LICENSE_MANAGER",
            stack.license_manager_url(),
        ),
        // The emulator also answers the KMS signing keys of `Issuer.SignKey` and STS
        // GetCallerIdentity with the account License Manager sees for the same credentials.
        ("AWS_ENDPOINT_URL_KMS", stack.license_manager_url()),
        ("AWS_ENDPOINT_URL_STS", stack.license_manager_url()),
        ("AWS_ACCESS_KEY_ID", CUSTOMER_ACCOUNT.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ("EVENT_BUS_NAME", EVENT_BUS.to_owned()),
        ("EVENT_SOURCE", EVENT_SOURCE.to_owned()),
        ("STATE_TABLE", STATE_TABLE.to_owned()),
        (
            "LICENSE_MANAGER_PUBLIC_KEY",
            stack.public_key_path().display().to_string(),
        ),
    ];
    if let Some(infra) = &context.infra {
        variables.push(("ALERT_TOPIC_ARN", infra.alert_topic_arn.clone()));
        variables.push(("ALERTS_QUEUE_URL", infra.alerts_queue_url.clone()));
        variables.push(("EVENTS_QUEUE_URL", infra.events_queue_url.clone()));
        variables.push(("DEAD_LETTER_QUEUE_URL", infra.dead_letter_queue_url.clone()));
    }
    if let Some(scenario) = &context.scenario {
        variables.push(("KEY_FINGERPRINT", scenario.key_fingerprint.clone()));
    }
    if let Some(app) = &context.app {
        if let Some(api) = &app.stack_file.api_url {
            variables.push(("CHECKOUT_API_URL", api.clone()));
        }
        variables.push(("LOCAL_ISSUER_URL", app.stack_file.issuer_url.clone()));
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("local-stack").chain(args.iter().copied()))
            .map_err(|err| err.to_string())
    }

    #[test]
    fn an_organization_of_no_accounts_is_refused_with_the_reason() {
        let err = parse(&["--accounts", "0"]).err().unwrap_or_default();
        assert!(
            err.contains("'0' for '--accounts <N>': \"0\" is not a number of member accounts: the organization needs at least one"),
            "{err}"
        );
        let err = parse(&["--accounts", "five"]).err().unwrap_or_default();
        assert!(err.contains("N >= 1"), "{err}");
    }

    #[test]
    fn accounts_choose_the_organization_demo_and_its_absence_the_single_account_one() {
        let cli = parse(&["--accounts", "5"]).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(cli.options.accounts.map(NonZeroUsize::get), Some(5));
        let org = cli.options.org_options(NonZeroUsize::MIN);
        assert_eq!(org.central_template, PathBuf::from("central.yaml"));
        let cli = parse(&[]).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(cli.options.accounts, None);
        // The organization demo ends by itself: it cannot keep running or fire schedules.
        assert!(parse(&["--accounts", "2", "--keep-running"]).is_err());
        // Its members' functions run one invocation at a time.
        assert!(parse(&["--accounts", "2", "--concurrency", "grant-acceptor=4"]).is_err());
    }
}
