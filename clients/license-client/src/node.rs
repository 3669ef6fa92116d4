//! A stable node id for this machine, so that a restarted app gets its live lease back.

use aws_lc_rs::digest::{SHA256, digest};

use crate::error::Error;

/// Files that hold the machine's id (systemd, D-Bus).
const MACHINE_ID_FILES: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

/// `given`, or this machine's stable id: `node-` and 16 hex digits of a digest of the
/// machine id (never the id itself, which systemd asks not to expose), else of the host
/// name. Fails, asking for `--node-id`, when neither can be read.
///
/// ```
/// assert_eq!(license_client::node_id(Some("laptop-7")).unwrap(), "laptop-7");
/// ```
pub fn node_id(given: Option<&str>) -> Result<String, Error> {
    if let Some(given) = given {
        let given = given.trim();
        if given.is_empty() || given.chars().any(char::is_control) || given.chars().count() > 255 {
            return Err(Error::Config(
                "node id: 1 to 255 characters without control characters".into(),
            ));
        }
        return Ok(given.to_owned());
    }
    let machine = MACHINE_ID_FILES
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .or_else(|| std::env::var("COMPUTERNAME").ok())
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .ok_or_else(|| {
            Error::Config(
                "no machine id or host name to derive a node id from: pass --node-id".into(),
            )
        })?;
    Ok(format!("node-{}", machine_digest(&machine)))
}

/// 16 hex digits of SHA-256 over the client's name and `machine`.
fn machine_digest(machine: &str) -> String {
    let hash = digest(&SHA256, format!("license-client:{machine}").as_bytes());
    hash.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_node_id_is_stable_and_hides_the_machine_id() {
        let first = node_id(None).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(node_id(None).ok(), Some(first.clone()));
        assert!(first.starts_with("node-") && first.len() == 21, "{first}");
        assert_ne!(machine_digest("a"), machine_digest("b"));
        assert!(node_id(Some(" ")).is_err());
    }
}
