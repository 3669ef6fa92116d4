//! `local-stack dashboard`: the template's CloudWatch dashboard, drawn from a local run.
//!
//! The body is the template's own (`Dashboard.Properties.DashboardBody`, read through the
//! template reader, which resolves its `Sub`, `Join` and `If` against local names: a function's
//! name is its logical id, its log group is its local log file). Its widgets are drawn from what
//! the run wrote to `<work dir>/logs`: the functions' EMF lines (namespace `LicenseAutomation`)
//! and the host's `platform.report` lines, which stand in for `AWS/Lambda`'s Duration, Errors
//! and Invocations and for the init-duration query. Metrics with no local source (SQS, API
//! Gateway, throttles) are named in the widget's legend as such. The HTML is one file with
//! inline SVG charts: it opens without network.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::app::{STACK_NAME, local_parameters};
use crate::event_sources::log_path;
use crate::template::{LocalResource, Locals, Template};
use local_test_kit::clients::{CUSTOMER_ACCOUNT, REGION};
use local_test_kit::resources::DEAD_LETTER_QUEUE;

/// The file `local-stack dashboard` and the demo write into the work directory.
pub const FILE_NAME: &str = "dashboard.html";
/// The template's dashboard resource.
const DASHBOARD: &str = "Dashboard";
/// The namespace of the functions' own (EMF) metrics.
pub const NAMESPACE: &str = "LicenseAutomation";
/// Lambda's metrics, which the host's `platform.report` lines stand in for.
const LAMBDA_NAMESPACE: &str = "AWS/Lambda";
/// A period when a widget names none (CloudWatch's default for dashboards).
const DEFAULT_PERIOD_SECONDS: i64 = 300;

/// One value a log line gave a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub name: String,
    /// Dimensions (name → value).
    pub dimensions: BTreeMap<String, String>,
    /// When, in epoch milliseconds.
    pub time_ms: i64,
    /// The values (EMF allows an array).
    pub values: Vec<f64>,
}

/// What a run's logs hold: metric points and the JSON lines of each log file.
#[derive(Debug, Default)]
pub struct RunLogs {
    /// Every metric point, EMF and `platform.report` alike.
    pub points: Vec<Point>,
    /// The JSON lines of each log file, by its path.
    pub lines: BTreeMap<PathBuf, Vec<Value>>,
}

impl RunLogs {
    /// Reads every `*.log` file in `log_dir`.
    pub fn read(log_dir: &Path) -> Result<Self> {
        let mut logs = Self::default();
        let entries = std::fs::read_dir(log_dir)
            .with_context(|| format!("no logs of a local run in {}", log_dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "log") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let function = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(Value::is_object)
                .collect();
            for line in &lines {
                logs.points.extend(emf_points(line));
                logs.points.extend(report_points(line, &function));
            }
            logs.lines.insert(path, lines);
        }
        Ok(logs)
    }

    /// The names of the `namespace` metrics the logs hold.
    pub fn metric_names(&self, namespace: &str) -> BTreeSet<String> {
        self.points
            .iter()
            .filter(|point| point.namespace == namespace)
            .map(|point| point.name.clone())
            .collect()
    }
}

/// The metric points of an EMF line (none for other lines).
fn emf_points(line: &Value) -> Vec<Point> {
    let Some(directives) = line
        .pointer("/_aws/CloudWatchMetrics")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let time_ms = line
        .pointer("/_aws/Timestamp")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let mut points = Vec::new();
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        let dimension_sets = directive["Dimensions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let Some(name) = metric["Name"].as_str() else {
                continue;
            };
            let values: Vec<f64> = match &line[name] {
                Value::Number(number) => number.as_f64().into_iter().collect(),
                Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
                _ => continue,
            };
            for set in &dimension_sets {
                let dimensions = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|key| (key.to_owned(), scalar_text(&line[key])))
                    .collect();
                points.push(Point {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    dimensions,
                    time_ms,
                    values: values.clone(),
                });
            }
        }
    }
    points
}

/// `AWS/Lambda` points of a `platform.report` line of `function`'s log.
fn report_points(line: &Value, function: &str) -> Vec<Point> {
    if line["type"] != "platform.report" {
        return Vec::new();
    }
    let time_ms = line["time"]
        .as_str()
        .and_then(|time| {
            time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |at| {
            i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
        });
    let point = |name: &str, value: f64| Point {
        namespace: LAMBDA_NAMESPACE.to_owned(),
        name: name.to_owned(),
        dimensions: BTreeMap::from([("FunctionName".to_owned(), function.to_owned())]),
        time_ms,
        values: vec![value],
    };
    let failed = line.pointer("/record/status").and_then(Value::as_str) != Some("success");
    let mut points = vec![
        point("Invocations", 1.0),
        point("Errors", if failed { 1.0 } else { 0.0 }),
    ];
    if let Some(duration) = line
        .pointer("/record/metrics/durationMs")
        .and_then(Value::as_f64)
    {
        points.push(point("Duration", duration));
    }
    points
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The template's dashboard body, resolved with the local names of `log_dir`'s run.
pub fn body(template: &Path, log_dir: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("cannot read {}", template.display()))?;
    let locals = dashboard_locals(&text, log_dir)?;
    let Some(body) = Template::resource_property(&text, &locals, DASHBOARD, "/DashboardBody")
        .with_context(|| format!("in {}", template.display()))?
    else {
        bail!(
            "{} has no {DASHBOARD} resource with a DashboardBody",
            template.display()
        );
    };
    let body = body
        .as_str()
        .context("DashboardBody does not resolve to a string")?;
    serde_json::from_str(body).context("DashboardBody is not JSON")
}

/// Local names: each function is named by its logical id (as the host names it), its log group
/// is its log file; the dead-letter queue and HTTP API have their local names; the checkout
/// API exists (the local stack always serves it).
fn dashboard_locals(text: &str, log_dir: &Path) -> Result<Locals> {
    let template: serde_norway::Value =
        serde_norway::from_str(text).context("the template is not valid YAML")?;
    let named = |reference: String| LocalResource {
        reference,
        attributes: BTreeMap::new(),
    };
    let mut resources = BTreeMap::new();
    for (id, resource) in template["Resources"].as_mapping().into_iter().flatten() {
        let Some(id) = id.as_str() else { continue };
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        resources.insert(id.to_owned(), named(id.to_owned()));
        if let serde_norway::Value::Tagged(tagged) =
            &resource["Properties"]["LoggingConfig"]["LogGroup"]
            && tagged.tag == "Ref"
            && let Some(group) = tagged.value.as_str()
        {
            let file = log_path(log_dir, id);
            resources.insert(group.to_owned(), named(file.display().to_string()));
        }
    }
    resources.insert(
        "DeadLetterQueue".to_owned(),
        LocalResource {
            reference: DEAD_LETTER_QUEUE.to_owned(),
            attributes: BTreeMap::from([("QueueName".to_owned(), DEAD_LETTER_QUEUE.to_owned())]),
        },
    );
    resources.insert(
        "CheckoutApi".to_owned(),
        named(crate::http_api::LOCAL_API_ID.to_owned()),
    );
    Ok(Locals {
        parameters: local_parameters("http://127.0.0.1/local-issuer"),
        resources,
        stack_name: STACK_NAME.to_owned(),
        account: CUSTOMER_ACCOUNT.to_owned(),
        region: REGION.to_owned(),
    })
}

/// The `LicenseAutomation` metrics the widgets of `body` name (explicitly or by a SEARCH's
/// `MetricName`).
pub fn project_metrics(body: &Value) -> BTreeSet<String> {
    widgets(body)
        .iter()
        .flat_map(|widget| {
            widget
                .pointer("/properties/metrics")
                .and_then(Value::as_array)
        })
        .flatten()
        .filter_map(|entry| match MetricRef::parse(entry) {
            Some(
                MetricRef::Explicit {
                    namespace, name, ..
                }
                | MetricRef::Search {
                    namespace, name, ..
                },
            ) if namespace == NAMESPACE => Some(name),
            _ => None,
        })
        .collect()
}

fn widgets(body: &Value) -> Vec<Value> {
    body["widgets"].as_array().cloned().unwrap_or_default()
}

/// One entry of a metric widget's `metrics`.
#[derive(Debug, Clone, PartialEq)]
enum MetricRef {
    /// `[namespace, name, dim, value, ..., {options}]`.
    Explicit {
        namespace: String,
        name: String,
        dimensions: BTreeMap<String, String>,
        options: Value,
    },
    /// `{"expression": "SEARCH('{namespace,dim,...} MetricName=\"name\"', 'stat', period)"}`.
    Search {
        namespace: String,
        name: String,
        dimension_names: BTreeSet<String>,
        stat: String,
        options: Value,
    },
}

impl MetricRef {
    fn parse(entry: &Value) -> Option<Self> {
        if let Some(items) = entry.as_array() {
            let (options, fields) = match items.last() {
                Some(last @ Value::Object(_)) => (last.clone(), &items[..items.len() - 1]),
                _ => (Value::Null, &items[..]),
            };
            let strings: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
            let [namespace, name, dimensions @ ..] = strings.as_slice() else {
                return None;
            };
            return Some(Self::Explicit {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
                dimensions: dimensions
                    .chunks_exact(2)
                    .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
                    .collect(),
                options,
            });
        }
        let options = entry.is_object().then(|| entry.clone())?;
        let expression = entry.get("expression")?.as_str()?;
        let inner = expression.strip_prefix("SEARCH(")?;
        let schema = inner.get(inner.find('{')? + 1..inner.find('}')?)?;
        let mut parts = schema.split(',').map(str::trim);
        let namespace = parts.next()?.to_owned();
        let dimension_names = parts.map(str::to_owned).collect();
        let name_at = inner.find("MetricName=\"")? + "MetricName=\"".len();
        let name = inner[name_at..].split('"').next()?.to_owned();
        let stat = inner
            .rsplit_once("',")
            .and_then(|(before, _)| before.rsplit_once('\''))
            .map_or_else(|| "Sum".to_owned(), |(_, stat)| stat.to_owned());
        Some(Self::Search {
            namespace,
            name,
            dimension_names,
            stat,
            options,
        })
    }
}

/// One line of a chart.
#[derive(Debug, Clone)]
struct Series {
    label: String,
    /// (bucket start in epoch seconds, value).
    values: Vec<(i64, f64)>,
}

/// A widget's lines, and what it names that has no local source.
#[derive(Debug, Default)]
struct Chart {
    series: Vec<Series>,
    no_local_data: Vec<String>,
}

/// `stat` of `values` (`Sum`, `Average`, `Maximum`, `Minimum`, `SampleCount`, `pNN`).
fn statistic(stat: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let count = values.len() as f64;
    Some(match stat {
        "Sum" => values.iter().sum(),
        "Average" => values.iter().sum::<f64>() / count,
        "Maximum" => values.iter().copied().fold(f64::MIN, f64::max),
        "Minimum" => values.iter().copied().fold(f64::MAX, f64::min),
        "SampleCount" => count,
        percentile => {
            let rank: f64 = percentile.strip_prefix('p')?.parse().ok()?;
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            let index = ((rank / 100.0) * count).ceil().max(1.0) as usize - 1;
            sorted[index.min(sorted.len() - 1)]
        }
    })
}

/// Buckets `points` by `period` and applies `stat` in each.
fn bucketed<'a>(
    points: impl Iterator<Item = &'a Point>,
    period: i64,
    stat: &str,
) -> Vec<(i64, f64)> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for point in points {
        let bucket = (point.time_ms / 1000).div_euclid(period) * period;
        buckets.entry(bucket).or_default().extend(&point.values);
    }
    buckets
        .into_iter()
        .filter_map(|(at, values)| statistic(stat, &values).map(|value| (at, value)))
        .collect()
}

fn metric_chart(properties: &Value, logs: &RunLogs) -> Chart {
    let period = properties["period"]
        .as_i64()
        .unwrap_or(DEFAULT_PERIOD_SECONDS)
        .max(1);
    let default_stat = properties["stat"].as_str().unwrap_or("Average");
    let mut chart = Chart::default();
    for entry in properties["metrics"].as_array().into_iter().flatten() {
        match MetricRef::parse(entry) {
            Some(MetricRef::Explicit {
                namespace,
                name,
                dimensions,
                options,
            }) => {
                let stat = options["stat"].as_str().unwrap_or(default_stat);
                let label = options["label"].as_str().map_or_else(
                    || {
                        let values: Vec<&str> = dimensions.values().map(String::as_str).collect();
                        format!("{name} {}", values.join(" "))
                    },
                    str::to_owned,
                );
                let matching: Vec<&Point> = logs
                    .points
                    .iter()
                    .filter(|point| {
                        point.namespace == namespace
                            && point.name == name
                            && point.dimensions == dimensions
                    })
                    .collect();
                if matching.is_empty() && namespace != NAMESPACE {
                    chart
                        .no_local_data
                        .push(format!("{label} ({namespace} {name})"));
                    continue;
                }
                chart.series.push(Series {
                    label,
                    values: bucketed(matching.into_iter(), period, stat),
                });
            }
            Some(MetricRef::Search {
                namespace,
                name,
                dimension_names,
                stat,
                options,
            }) => {
                let mut groups: BTreeMap<Vec<String>, Vec<&Point>> = BTreeMap::new();
                for point in logs.points.iter().filter(|point| {
                    point.namespace == namespace
                        && point.name == name
                        && point.dimensions.keys().cloned().collect::<BTreeSet<_>>()
                            == dimension_names
                }) {
                    groups
                        .entry(point.dimensions.values().cloned().collect())
                        .or_default()
                        .push(point);
                }
                let prefix = options["label"].as_str().unwrap_or_default();
                for (values, points) in groups {
                    chart.series.push(Series {
                        label: format!("{prefix} {}", values.join(" ")).trim().to_owned(),
                        values: bucketed(points.into_iter(), period, &stat),
                    });
                }
            }
            None => chart
                .no_local_data
                .push(format!("unsupported entry {entry}")),
        }
    }
    chart
}

/// A Logs Insights widget as the template writes it: `SOURCE '<group>' | ... | filter
/// type = "<type>" and ispresent(<field>) | stats pct(<field>, N) as a, ..., count(*) as c
/// by bin(<span>)`, over the local files its groups resolve to.
fn log_chart(properties: &Value, logs: &RunLogs) -> Chart {
    let query = properties["query"].as_str().unwrap_or_default();
    let mut chart = Chart::default();
    let sources: Vec<PathBuf> = query
        .split("SOURCE '")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .map(PathBuf::from)
        .collect();
    let wanted_type = query
        .split("type = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next());
    let present: Vec<&str> = query
        .split("ispresent(")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect();
    let bin_seconds = query
        .split("bin(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(span_seconds)
        .unwrap_or(DEFAULT_PERIOD_SECONDS);
    let field = |line: &Value, path: &str| {
        path.split('.')
            .try_fold(line, |value, key| value.get(key))
            .and_then(Value::as_f64)
    };
    let records: Vec<&Value> = sources
        .iter()
        .filter_map(|source| logs.lines.get(source))
        .flatten()
        .filter(|line| wanted_type.is_none_or(|wanted| line["type"] == wanted))
        .filter(|line| present.iter().all(|path| field(line, path).is_some()))
        .collect();
    let Some(stats) = query.split("stats ").nth(1) else {
        chart.no_local_data.push(format!("no stats in {query}"));
        return chart;
    };
    let stats = stats.split(" by ").next().unwrap_or_default();
    for aggregate in split_aggregates(stats) {
        let (expression, label) = aggregate
            .rsplit_once(" as ")
            .map_or((aggregate.as_str(), aggregate.as_str()), |(e, l)| (e, l));
        let points: Vec<Point> = records
            .iter()
            .map(|line| {
                let time_ms = line["time"]
                    .as_str()
                    .and_then(|time| {
                        time::OffsetDateTime::parse(
                            time,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .map_or(0, |at| {
                        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
                    });
                let value = if expression.starts_with("count(") {
                    Some(1.0)
                } else {
                    expression
                        .split_once('(')
                        .and_then(|(_, args)| args.split([',', ')']).next())
                        .and_then(|path| field(line, path.trim()))
                };
                Point {
                    namespace: String::new(),
                    name: String::new(),
                    dimensions: BTreeMap::new(),
                    time_ms,
                    values: value.into_iter().collect(),
                }
            })
            .collect();
        let stat = if expression.starts_with("count(") {
            "Sum".to_owned()
        } else if let Some(args) = expression.strip_prefix("pct(") {
            format!(
                "p{}",
                args.split(',')
                    .nth(1)
                    .unwrap_or("50")
                    .trim()
                    .trim_end_matches(')')
            )
        } else if expression.starts_with("avg(") {
            "Average".to_owned()
        } else if expression.starts_with("max(") {
            "Maximum".to_owned()
        } else if expression.starts_with("min(") {
            "Minimum".to_owned()
        } else {
            chart
                .no_local_data
                .push(format!("{label}: {expression} is not drawn locally"));
            continue;
        };
        chart.series.push(Series {
            label: label.trim().to_owned(),
            values: bucketed(points.iter(), bin_seconds, &stat),
        });
    }
    chart
}

/// `pct(a, 50) as p50, count(*) as n` → its aggregates (commas inside parentheses kept).
fn split_aggregates(stats: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in stats.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// `5m`, `1h`, `30s`, `1d` → seconds.
fn span_seconds(span: &str) -> Option<i64> {
    let span = span.trim();
    let (number, unit) = span.split_at(span.find(|c: char| !c.is_ascii_digit())?);
    let number: i64 = number.parse().ok()?;
    Some(match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return None,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// An SVG line chart of `chart` (a dot per bucket, so a single bucket shows too).
fn svg(chart: &Chart) -> String {
    const WIDTH: f64 = 520.0;
    const HEIGHT: f64 = 200.0;
    const LEFT: f64 = 56.0;
    const BOTTOM: f64 = 24.0;
    let all: Vec<(i64, f64)> = chart.series.iter().flat_map(|s| s.values.clone()).collect();
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">"#
    );
    if all.is_empty() {
        out.push_str(r##"<text x="50%" y="50%" text-anchor="middle" fill="#888">no data in this run</text></svg>"##);
        return out;
    }
    let (t0, t1) = all.iter().fold((i64::MAX, i64::MIN), |(lo, hi), (t, _)| {
        (lo.min(*t), hi.max(*t))
    });
    let top = all.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(1.0);
    let x = |t: i64| {
        if t1 == t0 {
            LEFT + (WIDTH - LEFT) / 2.0
        } else {
            LEFT + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - LEFT - 10.0)
        }
    };
    let y = |v: f64| (HEIGHT - BOTTOM) - v / top * (HEIGHT - BOTTOM - 10.0);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{b}" x2="{WIDTH}" y2="{b}" stroke="#ccc"/><line x1="{LEFT}" y1="10" x2="{LEFT}" y2="{b}" stroke="#ccc"/><text x="{lx}" y="16" text-anchor="end" font-size="11">{top}</text><text x="{lx}" y="{b}" text-anchor="end" font-size="11">0</text>"##,
        b = HEIGHT - BOTTOM,
        lx = LEFT - 4.0,
        top = format_number(top),
    );
    let time = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(|at| format!("{:02}:{:02}", at.hour(), at.minute()))
            .unwrap_or_default()
    };
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="{h}" font-size="11">{start} UTC</text><text x="{WIDTH}" y="{h}" text-anchor="end" font-size="11">{end}</text>"#,
        h = HEIGHT - 6.0,
        start = time(t0),
        end = time(t1),
    );
    for (index, series) in chart.series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let points: Vec<String> = series
            .values
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for (t, v) in &series.values {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}: {}</title></circle>"#,
                x(*t),
                y(*v),
                escape(&series.label),
                format_number(*v)
            );
        }
    }
    out.push_str("</svg>");
    out
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn legend(chart: &Chart) -> String {
    let mut out = String::from("<ul class=legend>");
    for (index, series) in chart.series.iter().enumerate() {
        let total = series.values.iter().map(|(_, v)| v).sum::<f64>();
        let _ = write!(
            out,
            r#"<li><span style="background:{}"></span>{} <small>({} buckets, last {})</small></li>"#,
            COLORS[index % COLORS.len()],
            escape(&series.label),
            series.values.len(),
            series.values.last().map_or_else(
                || format!("none; sum {}", format_number(total)),
                |(_, v)| format_number(*v)
            ),
        );
    }
    for missing in &chart.no_local_data {
        let _ = write!(
            out,
            r#"<li class=missing>{} <small>(no local source: AWS only)</small></li>"#,
            escape(missing)
        );
    }
    out.push_str("</ul>");
    out
}

/// The dashboard `body` drawn from `logs`, as one HTML page.
pub fn render(body: &Value, logs: &RunLogs) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>license-automation: local dashboard</title><style>\
         body{font-family:system-ui,sans-serif;margin:1em;background:#fafafa}\
         .grid{display:flex;flex-wrap:wrap;gap:12px}\
         .widget{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px}\
         .w24{flex:1 1 100%}.w12{flex:0 0 540px}\
         h2{font-size:15px;margin:0 0 6px}.legend{list-style:none;padding:0;margin:4px 0;font-size:12px}\
         .legend span{display:inline-block;width:10px;height:10px;margin-right:4px}\
         .missing{color:#999}pre{white-space:pre-wrap;margin:0}\
         </style></head><body><div class=grid>",
    );
    for widget in widgets(body) {
        let properties = &widget["properties"];
        let class = if widget["width"].as_u64().unwrap_or(6) >= 24 {
            "w24"
        } else {
            "w12"
        };
        let title = properties["title"].as_str().unwrap_or_default();
        let _ = write!(html, "<div class=\"widget {class}\">");
        match widget["type"].as_str() {
            Some("text") => {
                let markdown = properties["markdown"].as_str().unwrap_or_default();
                let _ = write!(html, "<pre>{}</pre>", escape(markdown));
            }
            Some("metric") => {
                let chart = metric_chart(properties, logs);
                let _ = write!(
                    html,
                    "<h2>{}</h2>{}{}",
                    escape(title),
                    svg(&chart),
                    legend(&chart)
                );
            }
            Some("log") => {
                let chart = log_chart(properties, logs);
                let _ = write!(
                    html,
                    "<h2>{}</h2>{}{}",
                    escape(title),
                    svg(&chart),
                    legend(&chart)
                );
            }
            other => {
                let _ = write!(
                    html,
                    "<h2>{}</h2><p class=missing>widget type {} is not drawn locally</p>",
                    escape(title),
                    escape(other.unwrap_or("(none)"))
                );
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</div></body></html>\n");
    html
}

/// Renders the dashboard of `template` from the run in `work_dir` into `output`.
pub fn write(template: &Path, work_dir: &Path, output: &Path) -> Result<()> {
    let log_dir = work_dir.join("logs");
    let body = body(template, &log_dir)?;
    let logs = RunLogs::read(&log_dir)?;
    std::fs::write(output, render(&body, &logs))
        .with_context(|| format!("cannot write {}", output.display()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn emf_line(name: &str, value: f64, dims: &[(&str, &str)]) -> Value {
        let mut line = json!({
            "_aws": {"Timestamp": 1_700_000_000_000_i64, "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": [{"Name": name}],
            }]},
        });
        line[name] = json!(value);
        for (key, value) in dims {
            line[*key] = json!(value);
        }
        line
    }

    #[test]
    fn emf_lines_become_points_with_their_dimensions() {
        let points = emf_points(&emf_line(
            "ApiRequests",
            1.0,
            &[
                ("FunctionName", "checkout-proxy"),
                ("Route", "checkout"),
                ("Status", "200"),
            ],
        ));
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].dimensions["Route"], "checkout");
        assert_eq!(points[0].values, [1.0]);
    }

    #[test]
    fn search_expressions_and_explicit_metrics_are_read() {
        let search = MetricRef::parse(&json!({"expression": "SEARCH('{LicenseAutomation,FunctionName,Route} MetricName=\"ApiLatencyMs\"', 'p99', 300)", "id": "p99", "label": "p99"})).unwrap();
        let MetricRef::Search {
            name,
            dimension_names,
            stat,
            ..
        } = search
        else {
            panic!("a search")
        };
        assert_eq!(name, "ApiLatencyMs");
        assert_eq!(stat, "p99");
        assert_eq!(dimension_names.len(), 2);
        let body = json!({"widgets": [{"type": "metric", "properties": {"metrics": [
            ["LicenseAutomation", "GrantsFailed", "FunctionName", "grant-acceptor"],
            ["AWS/Lambda", "Errors", "FunctionName", "F", {"stat": "Sum"}],
        ]}}]});
        assert_eq!(
            project_metrics(&body),
            BTreeSet::from(["GrantsFailed".to_owned()])
        );
    }

    #[test]
    fn statistics_are_cloudwatchs() {
        let values = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_eq!(statistic("Sum", &values), Some(110.0));
        assert_eq!(statistic("p50", &values), Some(3.0));
        assert_eq!(statistic("p99", &values), Some(100.0));
        assert_eq!(statistic("Maximum", &values), Some(100.0));
        assert_eq!(statistic("p50", &[]), None);
    }

    #[test]
    fn a_search_widget_draws_one_line_per_dimension_value() {
        let logs = RunLogs {
            points: [("checkout", "200"), ("checkout", "200"), ("checkin", "204")]
                .iter()
                .flat_map(|(route, status)| {
                    emf_points(&emf_line(
                        "ApiRequests",
                        1.0,
                        &[
                            ("FunctionName", "checkout-proxy"),
                            ("Route", route),
                            ("Status", status),
                        ],
                    ))
                })
                .collect(),
            lines: BTreeMap::new(),
        };
        let chart = metric_chart(
            &json!({"stat": "Sum", "period": 300, "metrics": [{"expression": "SEARCH('{LicenseAutomation,FunctionName,Route,Status} MetricName=\"ApiRequests\"', 'Sum', 300)"}]}),
            &logs,
        );
        let lines: Vec<(String, f64)> = chart
            .series
            .iter()
            .map(|series| (series.label.clone(), series.values[0].1))
            .collect();
        assert_eq!(
            lines,
            [
                ("checkout-proxy checkin 204".to_owned(), 1.0),
                ("checkout-proxy checkout 200".to_owned(), 2.0)
            ]
        );
    }

    #[test]
    fn an_aws_metric_without_a_local_source_is_named_not_drawn() {
        let chart = metric_chart(
            &json!({"metrics": [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "q"]]}),
            &RunLogs::default(),
        );
        assert!(chart.series.is_empty());
        assert_eq!(chart.no_local_data.len(), 1);
    }

    #[test]
    fn the_init_duration_query_is_drawn_from_platform_reports() {
        let path = PathBuf::from("/logs/F.log");
        let report = |init: f64| {
            json!({"time": "2026-01-01T00:00:00Z", "type": "platform.report",
                   "record": {"metrics": {"durationMs": 1.0, "initDurationMs": init}, "status": "success"}})
        };
        let warm = json!({"time": "2026-01-01T00:00:01Z", "type": "platform.report",
                          "record": {"metrics": {"durationMs": 1.0}, "status": "success"}});
        let logs = RunLogs {
            points: Vec::new(),
            lines: BTreeMap::from([(path, vec![report(10.0), report(30.0), warm])]),
        };
        let chart = log_chart(
            &json!({"query": "SOURCE '/logs/F.log' | filter type = \"platform.report\" and ispresent(record.metrics.initDurationMs) | stats pct(record.metrics.initDurationMs, 99) as p99, count(*) as coldStarts by bin(1h)"}),
            &logs,
        );
        let drawn: Vec<(String, f64)> = chart
            .series
            .iter()
            .map(|series| (series.label.clone(), series.values[0].1))
            .collect();
        assert_eq!(
            drawn,
            [("p99".to_owned(), 30.0), ("coldStarts".to_owned(), 2.0)]
        );
    }

    #[test]
    fn the_page_needs_no_network() {
        let body = json!({"widgets": [
            {"type": "text", "width": 24, "properties": {"markdown": "# <stack>"}},
            {"type": "metric", "properties": {"title": "Errors", "metrics": [["AWS/Lambda", "Errors", "FunctionName", "F"]]}},
        ]});
        let html = render(&body, &RunLogs::default());
        assert!(html.contains("&lt;stack&gt;"));
        assert!(html.contains("<svg"));
        for fetch in ["<script", "<link", "src=", "url("] {
            assert!(!html.contains(fetch), "{fetch} in the page");
        }
    }
}
