//! The Lambda host with a real bootstrap: warm reuse, init errors, crashes, timeouts and what
//! it measures.

use std::time::Duration;

use integration_tests::bootstrap;
use lambda_host::{Function, FunctionConfig, InvokeError};
use serde_json::{Value, json};

fn test_function(name: &str) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, bootstrap("test-bootstrap"));
    config.timeout = Duration::from_secs(2);
    config
        .environment
        .insert("GREETING".to_owned(), "hello".to_owned());
    config
}

fn ok(value: &Result<Value, InvokeError>) -> &Value {
    value.as_ref().expect("the invocation succeeded")
}

#[tokio::test]
async fn a_warm_process_serves_many_invocations_with_lambdas_environment() {
    let function = Function::new(test_function("warm"));
    let first = function.invoke(json!({"action": "echo", "n": 1})).await;
    assert!(first.cold(), "the first invocation starts the process");
    let body = ok(&first.result);
    assert_eq!(body["payload"], json!({"action": "echo", "n": 1}));
    assert_eq!(body["requestId"], json!(first.request_id));
    assert_eq!(
        body["functionArn"],
        json!("arn:aws:lambda:us-east-1:123456789012:function:warm")
    );
    assert_eq!(body["env"]["AWS_LAMBDA_FUNCTION_NAME"], json!("warm"));
    assert_eq!(body["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], json!("128"));
    assert_eq!(body["env"]["AWS_LAMBDA_LOG_FORMAT"], json!("JSON"));
    assert_eq!(body["env"]["AWS_REGION"], json!("us-east-1"));
    assert_eq!(body["env"]["GREETING"], json!("hello"));
    assert_eq!(
        body["env"]["HOME"],
        Value::Null,
        "only Lambda's variables and the function's own reach the process"
    );
    let trace = body["env"]["_X_AMZN_TRACE_ID"]
        .as_str()
        .expect("a trace id");
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent=") && trace.ends_with(";Sampled=0"),
        "Lambda-Runtime-Trace-Id reaches the handler as _X_AMZN_TRACE_ID: {trace}"
    );
    let task_root = body["env"]["LAMBDA_TASK_ROOT"]
        .as_str()
        .expect("a task root");
    assert!(std::path::Path::new(task_root).is_absolute(), "{task_root}");
    let deadline = body["deadlineMs"].as_u64().expect("a deadline");
    let now_ms =
        u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
    assert!(
        deadline > now_ms && deadline <= now_ms + 2_000,
        "deadline = now + timeout"
    );

    for n in 2..=20 {
        let next = function.invoke(json!({"n": n})).await;
        assert!(!next.cold(), "invocation {n} reuses the warm process");
        assert_eq!(next.pid, first.pid);
        assert_eq!(ok(&next.result)["count"], json!(n));
    }
    assert!(first.init.unwrap() > Duration::ZERO);
    let rss = first.max_rss_kib.expect("peak RSS of a live process");
    assert!(rss > 100, "a process has more than 100 KiB resident: {rss}");
}

#[tokio::test]
async fn a_handler_error_is_reported_and_the_process_stays_warm() {
    let function = Function::new(test_function("fails"));
    let warm = function.invoke(json!({})).await;
    let failed = function.invoke(json!({"action": "fail"})).await;
    match &failed.result {
        Err(InvokeError::Function { error_message, .. }) => {
            assert!(
                error_message.contains("failing on purpose"),
                "{error_message}"
            );
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    let after = function.invoke(json!({})).await;
    assert!(!after.cold());
    assert_eq!(after.pid, warm.pid);
}

#[tokio::test]
async fn an_init_error_is_reported_and_retried_with_a_fresh_process() {
    let mut config = test_function("init-error");
    config
        .environment
        .insert("TEST_BOOTSTRAP_INIT".to_owned(), "error".to_owned());
    let function = Function::new(config);
    for _ in 0..2 {
        let invocation = function.invoke(json!({})).await;
        assert_eq!(
            invocation.result,
            Err(InvokeError::Init {
                error_type: "TestInitError".to_owned(),
                error_message: "init failed on purpose".to_owned(),
            })
        );
    }
}

#[tokio::test]
async fn an_exit_during_init_carries_what_the_process_wrote() {
    let mut config = test_function("init-exit");
    config
        .environment
        .insert("TEST_BOOTSTRAP_INIT".to_owned(), "exit".to_owned());
    let invocation = Function::new(config).invoke(json!({})).await;
    let error = invocation.result.expect_err("init fails");
    assert_eq!(error.error_type(), "Runtime.ExitError");
    assert!(
        error.to_string().contains("TEST_SETTING is missing"),
        "{error}"
    );
}

#[tokio::test]
async fn a_crash_is_followed_by_a_fresh_process() {
    let function = Function::new(test_function("crashes"));
    let before = function.invoke(json!({})).await;
    let crashed = function.invoke(json!({"action": "crash"})).await;
    match &crashed.result {
        Err(InvokeError::Crashed { last_output, .. }) => {
            assert!(
                last_output.contains("crashing on purpose"),
                "{:?}",
                crashed.result
            );
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    let after = function.invoke(json!({})).await;
    assert!(after.cold(), "a crashed process is replaced");
    assert_ne!(after.pid, before.pid);
    assert_eq!(ok(&after.result)["count"], json!(1));
}

#[tokio::test]
async fn a_timeout_kills_the_process_and_the_next_invocation_starts_fresh() {
    let mut config = test_function("slow");
    config.timeout = Duration::from_millis(300);
    let function = Function::new(config);
    let before = function.invoke(json!({})).await;
    let slow = function
        .invoke(json!({"action": "sleep", "ms": 5_000}))
        .await;
    assert_eq!(
        slow.result,
        Err(InvokeError::Timeout(Duration::from_millis(300)))
    );
    assert!(
        slow.duration < Duration::from_secs(2),
        "{:?}",
        slow.duration
    );
    let pid = before.pid.unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|status| status.contains("State:\tZ")),
        "the timed-out process is gone"
    );
    let after = function.invoke(json!({"action": "sleep", "ms": 10})).await;
    assert!(after.cold());
    assert_eq!(ok(&after.result), &json!({"slept": 10}));
}

#[tokio::test]
async fn output_that_is_not_text_is_copied_and_the_process_goes_on() {
    let function = Function::new(test_function("binary"));
    let first = function.invoke(json!({"action": "binary-output"})).await;
    assert_eq!(ok(&first.result), &json!({"wrote": "binary"}));
    let crashed = function.invoke(json!({"action": "crash"})).await;
    match &crashed.result {
        Err(InvokeError::Crashed { last_output, .. }) => {
            assert!(
                last_output.contains("still writing after binary output"),
                "{last_output}"
            );
            assert!(last_output.contains("crashing on purpose"), "{last_output}");
        }
        other => panic!("expected a crash, got {other:?}"),
    }
}

#[tokio::test]
async fn a_caller_that_stops_waiting_leaves_no_event_behind() {
    let mut config = test_function("abandoned");
    config.timeout = Duration::from_millis(500);
    let function = Function::new(config);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        function.invoke(json!({"action": "sleep", "ms": 5_000})),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up");
    // The abandoned invocation still times out and frees the function.
    let next = tokio::time::timeout(Duration::from_secs(5), function.invoke(json!({})))
        .await
        .expect("the function is not stuck behind the abandoned event");
    assert!(next.cold(), "the timed-out process was replaced");
    assert_eq!(ok(&next.result)["count"], json!(1));
}

#[tokio::test]
async fn a_missing_bootstrap_is_a_clear_error() {
    let config = FunctionConfig::new("missing", "/nonexistent/bootstrap");
    let invocation = Function::new(config).invoke(json!({})).await;
    let error = invocation.result.expect_err("cannot start");
    assert!(
        error.to_string().contains("/nonexistent/bootstrap"),
        "{error}"
    );
}

#[tokio::test]
async fn recycle_makes_the_next_invocation_a_cold_start() {
    let function = Function::new(test_function("recycled"));
    let first = function.invoke(json!({})).await;
    function.recycle().await;
    let second = function.invoke(json!({})).await;
    assert!(first.cold() && second.cold());
    assert_ne!(first.pid, second.pid);
}

fn with_concurrency(name: &str, concurrency: usize) -> Function {
    let mut config = test_function(name);
    config.concurrency = std::num::NonZeroUsize::new(concurrency).expect("a concurrency above 0");
    Function::new(config)
}

#[tokio::test]
async fn invocations_run_at_once_each_in_its_own_environment_up_to_the_concurrency() {
    let function = with_concurrency("concurrent", 2);
    let sleep = json!({"action": "sleep", "ms": 800});
    let first = tokio::spawn({
        let function = function.clone();
        let sleep = sleep.clone();
        async move { function.try_invoke(sleep).await }
    });
    let second = tokio::spawn({
        let function = function.clone();
        let sleep = sleep.clone();
        async move { function.try_invoke(sleep).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Both environments are busy: a synchronous caller is refused at once.
    let refused = tokio::time::timeout(Duration::from_millis(100), function.try_invoke(json!({})))
        .await
        .expect("a throttled call is answered at once");
    let error = refused.result.expect_err("the concurrency is in use");
    assert_eq!(error.error_type(), "TooManyRequestsException");
    assert!(refused.pid.is_none(), "a throttled call runs nowhere");
    // An asynchronous caller waits for an environment and finds it warm.
    let waited = function.invoke(json!({})).await;
    assert!(!waited.cold(), "the waiting event takes a warm environment");
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert!(
        first.cold() && second.cold(),
        "each environment starts cold"
    );
    assert_ne!(first.pid, second.pid, "two invocations, two environments");
    assert!(
        waited.pid == first.pid || waited.pid == second.pid,
        "no third environment is started"
    );
    let usage = function.usage();
    assert_eq!(usage.cold_starts, 2);
    assert_eq!(usage.throttles, 1);
    assert_eq!(usage.peak_running, 2);
    assert_eq!(usage.running, 0);
}

#[tokio::test]
async fn one_invocation_at_a_time_reuses_one_warm_environment() {
    let function = with_concurrency("serial", 4);
    for _ in 0..3 {
        let invocation = function.try_invoke(json!({})).await;
        ok(&invocation.result);
    }
    assert_eq!(function.usage().cold_starts, 1);
    assert_eq!(function.usage().peak_running, 1);
}
