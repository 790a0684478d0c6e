//! Expected call rates: how often a statement of a query file is expected to run, for
//! `cache-advice` over files. Each statement states its rate in a `-- pgdiag: calls=120/min`
//! comment (beside its `-- pgdiag: params` one), or takes `--calls RATE`; a rate is a number
//! (integer or decimal) per second (`/s`), minute (`/min`) or hour (`/h`).

use std::fmt;
use std::str::FromStr;

use super::{InputError, Statement};

/// Calls per unit of time, kept as calls per hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallRate {
    per_hour: f64,
}

impl CallRate {
    pub fn per_hour(self) -> f64 {
        self.per_hour
    }
}

impl FromStr for CallRate {
    type Err = String;

    /// `120/min`, `2.5/s`, `1000/h` (also `/sec`, `/second`, `/minute`, `/hour`; spaces allowed
    /// around `/`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "no rate given: expected a number of calls per unit of time, e.g. 120/min".into(),
            );
        }
        let Some((number, unit)) = text.split_once('/') else {
            return Err(format!(
                "`{text}` has no unit: expected calls per second, minute or hour, e.g. 120/min, 2/s, 1000/h"
            ));
        };
        let number = number.trim();
        let value: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| {
                v.is_finite() && number.chars().all(|c| c.is_ascii_digit() || c == '.')
            })
            .ok_or_else(|| {
                format!(
                    "`{number}` is not a number of calls (an integer or a decimal, e.g. 120 or 2.5)"
                )
            })?;
        if value <= 0.0 {
            return Err(format!(
                "`{text}`: a rate must be above zero (leave a statement that never runs out)"
            ));
        }
        let seconds = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1.0,
            "min" | "m" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            other => {
                return Err(format!(
                    "`{other}` is not a unit of time: use s, min or h (e.g. 120/min)"
                ));
            }
        };
        Ok(CallRate {
            per_hour: value * 3600.0 / seconds,
        })
    }
}

impl fmt::Display for CallRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/h", self.per_hour)
    }
}

/// The expected calls per hour of `statement`: its own `-- pgdiag: calls` comment, else
/// `default` (`--calls`); an error naming the file and line when the comment is unreadable or
/// when neither gives a rate.
pub fn calls_per_hour(statement: &Statement, default: Option<CallRate>) -> Result<f64, InputError> {
    match &statement.statement.calls {
        Some(directive) => directive
            .text
            .parse::<CallRate>()
            .map(CallRate::per_hour)
            .map_err(|reason| InputError::CallRate {
                at: format!("{}:{}", statement.origin, directive.line),
                reason,
            }),
        None => default
            .map(CallRate::per_hour)
            .ok_or_else(|| InputError::CallRate {
                at: format!("{}:{}", statement.origin, statement.statement.line),
                reason: "no expected call rate: add a `-- pgdiag: calls=120/min` comment before the statement, or give --calls".into(),
            }),
    }
}
