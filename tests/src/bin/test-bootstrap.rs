//! A bootstrap for the host's own tests. Its init is steered by `TEST_BOOTSTRAP_INIT`
//! (`error`: report `/init/error`; `exit`: exit during init; `hang`: never finish init) and
//! each invocation by the event's `action`: `echo`, `count`, `fail`, `crash`, `sleep`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

#[tokio::main]
async fn main() -> Result<(), Error> {
    match std::env::var("TEST_BOOTSTRAP_INIT").as_deref() {
        Ok("error") => {
            report_init_error("TestInitError", "init failed on purpose")?;
            std::process::exit(1);
        }
        Ok("exit") => {
            eprintln!("TEST_SETTING is missing: set it to anything");
            std::process::exit(2);
        }
        Ok("hang") => std::future::pending::<()>().await,
        _ => {}
    }
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let count = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let payload = event.payload;
    // The action is at the top (direct invocations) or in an EventBridge event's detail.
    let action = payload
        .get("action")
        .or_else(|| payload.pointer("/detail/action"))
        .or_else(|| payload.pointer("/queryStringParameters/action"))
        .and_then(Value::as_str)
        .unwrap_or("echo");
    match action {
        "fail" => Err("failing on purpose".into()),
        "crash" => {
            eprintln!("crashing on purpose");
            std::process::exit(3);
        }
        "binary-output" => {
            // Not UTF-8: the host must keep copying the output, and this process keep running.
            use std::io::Write as _;
            let _ = std::io::stderr().write_all(b"\xff\xfe not text\n");
            eprintln!("still writing after binary output");
            Ok(json!({"wrote": "binary"}))
        }
        "sleep" => {
            let ms = payload
                .get("ms")
                .or_else(|| payload.pointer("/detail/ms"))
                .and_then(Value::as_u64)
                .or_else(|| {
                    payload
                        .pointer("/queryStringParameters/ms")
                        .and_then(Value::as_str)
                        .and_then(|ms| ms.parse().ok())
                })
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({"slept": ms}))
        }
        _ => {
            let env = |name: &str| std::env::var(name).ok();
            Ok(json!({
                "pid": std::process::id(),
                "count": count,
                "requestId": event.context.request_id,
                "functionArn": event.context.invoked_function_arn,
                "deadlineMs": event.context.deadline,
                "payload": payload,
                "env": {
                    "AWS_LAMBDA_FUNCTION_NAME": env("AWS_LAMBDA_FUNCTION_NAME"),
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                    "AWS_LAMBDA_LOG_FORMAT": env("AWS_LAMBDA_LOG_FORMAT"),
                    "AWS_REGION": env("AWS_REGION"),
                    "GREETING": env("GREETING"),
                    "HOME": env("HOME"),
                    "_X_AMZN_TRACE_ID": env("_X_AMZN_TRACE_ID"),
                    "LAMBDA_TASK_ROOT": env("LAMBDA_TASK_ROOT"),
                },
            }))
        }
    }
}

/// POSTs `/init/error` with plain HTTP/1.1, as a runtime that fails its init does.
fn report_init_error(error_type: &str, message: &str) -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(std::io::Error::other)?;
    let body = json!({"errorType": error_type, "errorMessage": message}).to_string();
    let mut stream = std::net::TcpStream::connect(&api)?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(())
}
