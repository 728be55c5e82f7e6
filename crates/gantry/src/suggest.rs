//! clap's "similar subcommands exist" tip also names hidden subcommands (`gantry servic`
//! suggested the internal `supervise`). This drops hidden names from the tip, and the tip
//! itself when nothing public is left.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Command;

/// Every hidden subcommand name in the tree under `cmd`.
fn hidden_names(cmd: &Command, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            out.push(sub.get_name().to_string());
        }
        hidden_names(sub, out);
    }
}

/// `e` without hidden subcommands among its suggestions; any other error unchanged.
pub fn without_hidden(e: clap::Error, cmd: &Command) -> clap::Error {
    if e.kind() != ErrorKind::InvalidSubcommand {
        return e;
    }
    let mut hidden = Vec::new();
    hidden_names(cmd, &mut hidden);
    let Some(ContextValue::Strings(suggested)) = e.get(ContextKind::SuggestedSubcommand) else {
        return e;
    };
    let kept: Vec<String> = suggested
        .iter()
        .filter(|s| !hidden.contains(s))
        .cloned()
        .collect();
    if kept.len() == suggested.len() {
        return e;
    }
    let mut out = clap::Error::new(ErrorKind::InvalidSubcommand).with_cmd(cmd);
    for (kind, value) in e.context() {
        if kind == ContextKind::SuggestedSubcommand {
            if !kept.is_empty() {
                out.insert(kind, ContextValue::Strings(kept.clone()));
            }
        } else {
            out.insert(kind, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn error_of(args: &[&str]) -> String {
        let cmd = crate::cmd::Cli::command();
        let e = cmd
            .clone()
            .try_get_matches_from(args)
            .expect_err("an unknown subcommand");
        without_hidden(e, &cmd).to_string()
    }

    #[test]
    fn a_typo_is_never_answered_with_a_hidden_subcommand() {
        let text = error_of(&["gantry", "supervis"]);
        assert!(
            text.contains("unrecognized subcommand 'supervis'"),
            "{text}"
        );
        assert!(!text.contains("supervise"), "{text}");
        let text = error_of(&["gantry", "servic"]);
        assert!(text.contains("'server'"), "{text}");
        assert!(text.contains("'service'"), "{text}");
        assert!(!text.contains("supervise"), "{text}");
    }
}
