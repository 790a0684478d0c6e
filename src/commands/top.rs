//! `pgdiag top`: read `pg_stat_statements` ([`crate::pg::stat_statements`]), make it a workload
//! ([`crate::input::workload::from_stat_statements`]), rank it and render the report
//! ([`crate::report::top`]).

use std::io::Write;

use crate::cli::{OutputFormat, TopArgs};
use crate::input::workload::from_stat_statements;
use crate::pg::stat_statements::{self, StatStatementsQuery};
use crate::pg::{self, ConnectionSettings, ProcessEnv, Runner};
use crate::report::top::{TopReport, TopRequest, render_json, render_text};

use super::{Outcome, interrupted};

pub async fn run(
    args: &TopArgs,
    out: &mut impl Write,
    width: Option<u16>,
) -> anyhow::Result<Outcome> {
    if args.format == OutputFormat::Html {
        return Err(super::html_unavailable("top"));
    }
    let settings = ConnectionSettings::resolve(args.connection.dsn.as_deref(), &ProcessEnv)?;
    let runner = tokio::select! {
        r = Runner::connect(&settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let server = runner.server_info(settings.describe());
    let database = if args.all_databases {
        None
    } else {
        Some(match &args.database {
            Some(name) => name.clone(),
            None => settings
                .config()
                .get_dbname()
                .unwrap_or_default()
                .to_owned(),
        })
    };
    let query = StatStatementsQuery {
        database: database.clone(),
        // Every statement is read, so shares are of all the time recorded; --min-calls filters
        // the ranking.
        min_calls: 0,
    };
    let read = tokio::select! {
        r = stat_statements::read(runner.client(), runner.server_version_num(), &query) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let workload = from_stat_statements(&read);
    let report = TopReport::new(
        server,
        &workload,
        &TopRequest {
            database,
            order: args.order_by.order_by(),
            limit: (args.limit > 0).then_some(args.limit),
            min_calls: args.min_calls,
            hidden_texts: read.hidden,
            current_user: read.current_user.clone(),
        },
    );
    match args.format {
        OutputFormat::Text => render_text(out, &report, width)?,
        OutputFormat::Json => render_json(out, &report)?,
        OutputFormat::Html => return Err(super::html_unavailable("top")),
    }
    Ok(Outcome::Ok)
}
