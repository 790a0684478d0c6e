//! `pgdiag rules`: the diagnosis rules, listed or one page printed, from the binary itself.

use std::io::Write;

use anyhow::anyhow;

use crate::cli::RulesArgs;
use crate::diagnose::RuleId;

use super::Outcome;

pub fn run(args: &RulesArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    match &args.id {
        None => {
            let width = RuleId::ALL
                .iter()
                .map(|r| r.as_str().len())
                .max()
                .unwrap_or(0);
            for rule in RuleId::ALL {
                writeln!(out, "{:<width$}  {}", rule.as_str(), rule.summary())?;
            }
            writeln!(out)?;
            writeln!(out, "pgdiag rules <RULE> prints a rule's page.")?;
        }
        Some(id) => {
            let rule: RuleId = id.parse().map_err(|e| anyhow!("{e}"))?;
            write!(out, "{}", rule.page())?;
        }
    }
    Ok(Outcome::Ok)
}
