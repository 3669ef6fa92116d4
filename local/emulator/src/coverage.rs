//! `docs/emulator-coverage.md`, generated from the embedded model and the dispatch table.

use crate::{model, ops};

/// The command that regenerates the coverage document.
pub const REGENERATE: &str =
    "cargo run -p license-manager-local -- coverage > docs/emulator-coverage.md";

/// The coverage document: every operation of the model, implemented or not, with totals.
pub fn coverage_markdown() -> String {
    let names = model::operation_names();
    let implemented = names.iter().filter(|n| ops::find(n).is_some()).count();
    let mut out = String::new();
    out.push_str("# license-manager-local: operation coverage\n\n");
    out.push_str(&format!(
        "Generated from the embedded API model (`local/emulator/model/`) and the emulator's \
         dispatch table; do not edit by hand. Regenerate with:\n\n```sh\n{REGENERATE}\n```\n\n"
    ));
    out.push_str(&format!(
        "**{implemented} of {} operations implemented**, {} not implemented. An operation \
         that is not implemented answers HTTP 400 `NotImplementedException` naming it, never \
         a fake success.\n\n",
        names.len(),
        names.len() - implemented
    ));
    out.push_str("| Operation | Status | Summary |\n|---|---|---|\n");
    for name in &names {
        let status = if ops::find(name).is_some() {
            "implemented"
        } else {
            "not implemented"
        };
        out.push_str(&format!(
            "| {name} | {status} | {} |\n",
            model::summary(name)
        ));
    }
    out.push_str(&format!(
        "\nTotals: {implemented} implemented, {} not implemented, {} in the model.\n",
        names.len() - implemented,
        names.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dispatched_operation_exists_in_the_model() {
        for op in ops::OPERATIONS {
            assert!(
                model::has_operation(op.name),
                "{} is not in the model",
                op.name
            );
        }
    }

    #[test]
    fn the_document_lists_all_operations() {
        let doc = coverage_markdown();
        assert_eq!(
            doc.matches("| implemented |").count(),
            ops::OPERATIONS.len()
        );
        assert_eq!(
            doc.matches(" implemented |").count(),
            model::operation_names().len()
        );
    }
}
