//! Shared units at the bottom of the crate: how numbers, durations, shares and sizes are written
//! for people, medians, and the wall clock. Depends on nothing else in the crate, so every layer
//! (diagnosis, advice, reports, the bench) formats the same way without importing a renderer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds with precision that suits the magnitude: `0.042`, `12.35`, `2,412.3`.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        let whole = ms.trunc();
        let tenth = ((ms - whole) * 10.0).round();
        let (whole, tenth) = if tenth >= 10.0 {
            (whole + 1.0, 0.0)
        } else {
            (whole, tenth)
        };
        format!("{}.{}", fmt_count(whole), tenth as u8)
    }
}

/// A share (0.0–1.0) as a percentage with one decimal: `72.1%`.
pub fn fmt_pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// Thousands separators for counts: `1,200,000`. Fractional counts (averaged rows) keep no
/// decimals: EXPLAIN's own rounding makes them noise.
pub fn fmt_count(value: f64) -> String {
    let rounded = value.round();
    if !rounded.is_finite() {
        return value.to_string();
    }
    let negative = rounded < 0.0;
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if negative {
        out.insert(0, '-');
    }
    out
}

/// A size in bytes with a binary unit and one decimal: `512 B`, `4.3 MB`.
pub fn fmt_bytes(value: i64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if value < 1024 {
        return format!("{value} B");
    }
    let mut size = value as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// The middle value (the mean of the two middle ones for an even count); `None` for none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Milliseconds since the Unix epoch: the clock cached values and write commit times share.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(fmt_ms(0.0421), "0.042");
        assert_eq!(fmt_ms(12.345), "12.35");
        assert_eq!(fmt_ms(2412.34), "2,412.3");
        assert_eq!(fmt_ms(999.96), "1,000.0");
        assert_eq!(fmt_count(1_200_000.0), "1,200,000");
        assert_eq!(fmt_count(-1234.0), "-1,234");
        assert_eq!(fmt_count(999.0), "999");
        assert_eq!(fmt_count(0.4), "0");
        assert_eq!(fmt_pct(0.7214), "72.1%");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(4_530_176), "4.3 MB");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
