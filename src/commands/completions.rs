//! `pgdiag completions <shell>` and `pgdiag man`: what the shell and `man` need, generated from
//! the command-line definitions themselves (clap_complete, clap_mangen), so they never drift.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

use super::Outcome;

pub fn completions(args: &CompletionsArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "pgdiag", out);
    Ok(Outcome::Ok)
}

pub fn man(args: &ManArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    let command = Cli::command();
    match &args.dir {
        None => clap_mangen::Man::new(command).render(out)?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
        }
    }
    Ok(Outcome::Ok)
}
