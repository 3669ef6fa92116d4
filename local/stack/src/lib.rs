//! The local stack: moto's server (EventBridge, DynamoDB, SQS, SNS) plus the in-process
//! License Manager emulator, the resources the SAM template creates, and the demo that
//! seeds a readable scenario and runs the flows of AWS's License Manager samples.
//!
//! Later issues add their function's part of the demo as a [`flows::Flow`] in
//! [`flows::all`].

pub mod clients;
pub mod flows;
pub mod functions;
pub mod http_api;
pub mod issuer;
pub mod moto;
pub mod report;
pub mod stack;
pub mod template;

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

use crate::clients::{CUSTOMER_ACCOUNT, Clients, LOCAL_SECRET_KEY, REGION};
use crate::flows::Context;
use crate::flows::infrastructure::{EVENT_BUS, EVENT_SOURCE, STATE_TABLE};
use crate::report::{Recorder, Summary};
use crate::stack::{Stack, StackOptions};

/// Command line of `local-stack`.
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "Start moto + license-manager-local, seed a scenario and run the demo"
)]
pub struct Options {
    /// Port of license-manager-local on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4599)]
    pub port: u16,
    /// moto's server executable (created by `scripts/venv.sh dev`).
    #[arg(long, env = "MOTO_SERVER", default_value = ".venv/bin/moto_server")]
    pub moto_server: PathBuf,
    /// Persist the emulator's state in this file (default: in memory only).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Directory for logs and the borrow public key.
    #[arg(long, default_value = ".local-stack")]
    pub work_dir: PathBuf,
    /// After the demo, leave the stack running and print the variables to use it.
    #[arg(long)]
    pub keep_running: bool,
}

/// Starts the stack, runs the demo and stops the stack (also on error, Ctrl-C and SIGTERM,
/// including while it starts). `Ok(true)` when every step passed.
pub async fn run(options: Options) -> Result<bool> {
    let stack_options = StackOptions {
        moto_server: options.moto_server.clone(),
        port: options.port,
        state_file: options.state_file.clone(),
        work_dir: options.work_dir.clone(),
    };
    let started = std::time::Instant::now();
    let starting = Stack::start(&stack_options);
    let stack = tokio::select! {
        stack = starting => stack?,
        // Dropping the half-started stack kills moto's server (kill_on_drop).
        () = stop_requested() => anyhow::bail!("interrupted while starting the stack"),
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

    let outcome = tokio::select! {
        outcome = demo(&stack) => Some(outcome),
        () = stop_requested() => None,
    };
    let Some((summary, context)) = outcome else {
        stack.stop().await;
        anyhow::bail!("interrupted: stopped moto's server and license-manager-local");
    };

    if options.keep_running {
        println!();
        println!("The stack keeps running. To use it from a shell:");
        for (name, value) in environment(&stack, &context) {
            println!("  export {name}={value}");
        }
        println!("Press Ctrl-C to stop it.");
        stop_requested().await;
        stack.stop().await;
        println!("stopped.");
    } else {
        stack.stop().await;
    }
    Ok(summary.failed == 0)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. If no handler can be installed it never resolves,
/// so the demo is not mistaken for interrupted.
async fn stop_requested() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                () = interrupt => {}
                _ = terminate.recv() => {}
            },
            Err(_) => interrupt.await,
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

/// Runs every flow against a started stack, prints the summary line and returns it with
/// what the flows created.
pub async fn demo(stack: &Stack) -> (Summary, Context) {
    let clients = Clients::connect(&stack.moto_url(), &stack.license_manager_url()).await;
    let mut context = Context::new(clients);
    let mut recorder = Recorder::new();
    for flow in flows::all() {
        recorder.run(&flow, &mut context).await;
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
    variables
}
