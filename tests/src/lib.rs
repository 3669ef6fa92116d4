//! Helpers of the end-to-end tests: where the workspace's bootstraps are.

use std::path::PathBuf;

/// The cargo profile directory this test binary was built into (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/<test> -> target/debug
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The bootstrap `name` built by `cargo test --workspace` (every package's binaries are
/// built before any test runs). Panics with the command to run when it is missing.
pub fn bootstrap(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build --bins` first)",
        path.display()
    );
    path
}
