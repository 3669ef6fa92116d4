//! `make bench`: every function present under `functions/`, its release bootstrap beside a
//! boto3 baseline doing the same work under `awslambdaric` and a bare `lambda_runtime` floor,
//! all through lambda-host against license-manager-local and moto's server; results as
//! bench/results.json and bench/results.md.

pub mod cases;
pub mod load;
pub mod measure;
pub mod results;
pub mod stats;
pub mod world;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Parser;

use crate::cases::{CHECKOUT_PROXY, Case};
use crate::measure::{Planned, Samples, Side, Target, measure, raw_checkouts};
use crate::results::{FunctionResult, Machine, Results};
use crate::world::{CHECKOUT_ACCOUNT, World};

/// Where the repository and the programs the benchmarks run are (`bench` and `bench-load`).
#[derive(Debug, Clone, clap::Args)]
pub struct Programs {
    /// The repository (functions/, events/, bench/, template.yaml).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// `cargo lambda build --release --output-format zip` output: <dir>/<function>/bootstrap(.zip).
    #[arg(long)]
    pub lambda_dir: PathBuf,
    /// The release license-manager-local.
    #[arg(long)]
    pub emulator: PathBuf,
    /// moto's server.
    #[arg(long, env = "MOTO_SERVER")]
    pub moto_server: PathBuf,
    /// The Python of the bench venv (awslambdaric, boto3).
    #[arg(long)]
    pub python: PathBuf,
}

/// What to measure and where things are.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Benchmarks of the functions beside a boto3 baseline and a floor"
)]
pub struct Options {
    /// The repository and the programs measured.
    #[command(flatten)]
    pub programs: Programs,
    /// Fresh processes per side.
    #[arg(long, default_value_t = 30)]
    pub cold: usize,
    /// Warm invocations per side.
    #[arg(long, default_value_t = 300)]
    pub warm: usize,
    /// Checkouts per path.
    #[arg(long, default_value_t = 1000)]
    pub checkouts: usize,
    /// Output of a sweep benchmark, as `<function>=<file>` (repeatable).
    #[arg(long = "sweep-log")]
    pub sweep_logs: Vec<String>,
    /// Seconds the builds took, to report beside the measurements.
    #[arg(long)]
    pub build_seconds: Option<f64>,
    /// Seconds the sweep benchmarks took (run before this), to add to the measuring time.
    #[arg(long, default_value_t = 0.0)]
    pub sweep_seconds: f64,
    /// Where logs of the processes go.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// Where results.json and results.md are written.
    #[arg(long, default_value = "bench")]
    pub out_dir: PathBuf,
}

/// Runs every measurement and writes the results.
pub async fn run(options: Options) -> Result<Results> {
    let started = Instant::now();
    let load_before = load_average();
    std::fs::create_dir_all(&options.work_dir)?;
    let present = functions_present(&options.programs.repo)?;
    let mut skipped = Vec::new();
    let mut cases = Vec::new();
    for function in &present {
        match cases::case(function, &options.programs.repo)? {
            Some(case) => cases.push(case),
            None => skipped.push(format!(
                "{function}: the benchmark has no case for it yet (bench/runner/src/cases.rs)"
            )),
        }
    }
    if !present.iter().any(|f| f == CHECKOUT_PROXY) {
        skipped.push(format!(
            "{CHECKOUT_PROXY}: not under functions/ on this commit, so its cold start, memory, \
             size and checkout latency are not measured; the checkout's raw round trip and boto3 \
             baseline are"
        ));
        if let Some(case) = cases::case(CHECKOUT_PROXY, &options.programs.repo)? {
            cases.push(case);
        }
    }
    let world = World::start(
        &options.programs.moto_server,
        &options.programs.emulator,
        &options.work_dir,
    )
    .await?;
    let outcome = measure_all(&options, &world, &cases, &present).await;
    world.stop().await;
    let (functions, floor, raw_checkout_ms, raw_checkout_link_ms) = outcome?;
    let results = Results {
        machine: machine(load_before),
        cold: options.cold,
        warm: options.warm,
        checkouts: options.checkouts,
        functions,
        floor,
        floor_zip_bytes: zip_size(&options.programs.lambda_dir, "lambda-floor"),
        raw_checkout_ms,
        raw_checkout_link_ms,
        sweeps: sweeps(&options.sweep_logs, &present)?,
        skipped,
        measured_seconds: started.elapsed().as_secs_f64() + options.sweep_seconds,
        build_seconds: options.build_seconds,
    };
    std::fs::create_dir_all(&options.out_dir)?;
    std::fs::write(
        options.out_dir.join("results.json"),
        serde_json::to_string(&results)?,
    )?;
    std::fs::write(options.out_dir.join("results.md"), results.markdown())?;
    Ok(results)
}

type Measured = (Vec<FunctionResult>, Samples, Vec<f64>, Vec<f64>);

async fn measure_all(
    options: &Options,
    world: &World,
    cases: &[Case],
    present: &[String],
) -> Result<Measured> {
    // Every side of every case, then the floor, measured together (cold starts in rounds).
    let mut planned = Vec::new();
    let mut sides = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let warm = if case.function == CHECKOUT_PROXY {
            options.checkouts
        } else {
            options.warm
        };
        if present.contains(&case.function) {
            let bootstrap = bootstrap(&options.programs.lambda_dir, &case.function)?;
            planned.push(plan(options, world, case, Side::Rust, bootstrap, warm)?);
            sides.push((index, Side::Rust));
        }
        let baseline = options.programs.repo.join("bench/baseline/bootstrap");
        planned.push(plan(options, world, case, Side::Boto3, baseline, warm)?);
        sides.push((index, Side::Boto3));
    }
    planned.push(Planned {
        target: Target {
            name: "lambda-floor".to_owned(),
            bootstrap: bootstrap(&options.programs.lambda_dir, "lambda-floor")?,
            account: CHECKOUT_ACCOUNT.to_owned(),
            environment: world.endpoints(),
            log_file: options.work_dir.join("floor.log"),
        },
        event: serde_json::json!({}),
        warm: options.warm,
    });
    eprintln!(
        "{} cold starts of each of {} sides, in rounds",
        options.cold,
        planned.len()
    );
    let mut measured = measure(planned, options.cold).await?;
    let floor = measured.pop().context("the floor was not measured")?;
    let mut functions: Vec<FunctionResult> = cases
        .iter()
        .map(|case| FunctionResult {
            function: case.function.clone(),
            work: case.work.to_owned(),
            zip_bytes: None,
            rust: None,
            boto3: Samples::default(),
        })
        .collect();
    for ((index, side), samples) in sides.into_iter().zip(measured) {
        let function = &mut functions[index];
        match side {
            Side::Rust => {
                function.zip_bytes = zip_size(&options.programs.lambda_dir, &function.function);
                function.rust = Some(samples);
            }
            Side::Boto3 => function.boto3 = samples,
        }
    }
    eprintln!("raw CheckoutLicense: {}", options.checkouts);
    let client = world.license_manager(CHECKOUT_ACCOUNT).await;
    let raw = raw_checkouts(&client, None, options.checkouts).await?;
    eprintln!("raw CheckoutLicense + PutItem: {}", options.checkouts);
    let dynamodb = world.dynamodb(CHECKOUT_ACCOUNT).await;
    let linked = raw_checkouts(
        &client,
        Some((&dynamodb, crate::world::STATE_TABLE)),
        options.checkouts,
    )
    .await?;
    Ok((functions, floor, raw, linked))
}

fn plan(
    options: &Options,
    world: &World,
    case: &Case,
    side: Side,
    bootstrap: PathBuf,
    warm: usize,
) -> Result<Planned> {
    let label = match side {
        Side::Rust => "rust",
        Side::Boto3 => "boto3",
    };
    let mut environment = world.endpoints();
    environment.extend(case.environment.clone());
    if side == Side::Boto3 {
        let python = std::path::absolute(&options.programs.python)?;
        if !python.is_file() {
            bail!(
                "{} is missing: the bench venv is made by `scripts/venv.sh bench`",
                python.display()
            );
        }
        environment.insert("BENCH_PYTHON".to_owned(), python.display().to_string());
        environment.insert("BASELINE_OF".to_owned(), case.function.clone());
    }
    Ok(Planned {
        target: Target {
            name: case.function.clone(),
            bootstrap,
            account: case.account.to_owned(),
            environment,
            log_file: options
                .work_dir
                .join(format!("{}-{label}.log", case.function)),
        },
        event: case.event.clone(),
        warm,
    })
}

/// The function packages: the directories under `functions/`, sorted.
pub fn functions_present(repo: &Path) -> Result<Vec<String>> {
    let dir = repo.join("functions");
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let entry = entry?;
        if entry.path().join("Cargo.toml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn bootstrap(lambda_dir: &Path, name: &str) -> Result<PathBuf> {
    let path = lambda_dir.join(name).join("bootstrap");
    if !path.is_file() {
        bail!(
            "{} is missing: build it with `cargo lambda build --release -p {name}` (make bench does)",
            path.display()
        );
    }
    Ok(path)
}

fn zip_size(lambda_dir: &Path, name: &str) -> Option<u64> {
    std::fs::metadata(lambda_dir.join(name).join("bootstrap.zip"))
        .ok()
        .map(|metadata| metadata.len())
}

/// The table lines of each sweep log (`<function>=<file>`) whose function is present.
fn sweeps(logs: &[String], present: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut sweeps = Vec::new();
    for log in logs {
        let Some((function, file)) = log.split_once('=') else {
            bail!("--sweep-log {log}: expected <function>=<file>");
        };
        if !present.iter().any(|f| f == function) {
            continue;
        }
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the sweep log {file}"))?;
        let lines: Vec<String> = text
            .lines()
            .filter(|line| line.starts_with('|') || line.starts_with("set up "))
            .map(str::to_owned)
            .collect();
        if lines.is_empty() {
            bail!("the sweep log {file} of {function} holds no table: did its benchmark fail?");
        }
        sweeps.push((function.to_owned(), lines));
    }
    Ok(sweeps)
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

pub(crate) fn machine(load_before: String) -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let now = time::OffsetDateTime::now_utc();
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model,
        kernel,
        arch: std::env::consts::ARCH.to_owned(),
        load_before,
        load_after: load_average(),
        date: format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute()
        ),
        commit,
    }
}
