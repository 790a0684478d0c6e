//! Aligning two plan shapes line by line: the gate counts what changed, the renderers show it
//! side by side.

/// How a row of the side-by-side diff relates its two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffOp {
    /// The same line on both sides.
    Equal,
    /// A baseline line replaced by a different current line at the same place.
    Changed,
    /// Only in the baseline.
    Removed,
    /// Only in the current plan.
    Added,
}

impl DiffOp {
    pub fn marker(self) -> char {
        match self {
            DiffOp::Equal => '=',
            DiffOp::Changed => '~',
            DiffOp::Removed => '-',
            DiffOp::Added => '+',
        }
    }
}

/// One row of the side-by-side diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffRow<'a> {
    pub op: DiffOp,
    pub baseline: Option<&'a str>,
    pub current: Option<&'a str>,
}

/// Align two plan shapes with a longest common subsequence of equal lines. Between two equal
/// lines, removed and added lines are paired in order as changed rows (a node replaced by another
/// at the same place reads best side by side); what is left over is removed or added.
///
/// Quadratic in the number of lines, which is fine: a plan shape has tens of nodes, not thousands.
pub fn align<'a>(baseline: &'a [String], current: &'a [String]) -> Vec<DiffRow<'a>> {
    let (n, m) = (baseline.len(), current.len());
    // lcs[i][j]: length of the LCS of baseline[i..] and current[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if baseline[i] == current[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }

    let mut rows = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    let mut added: Vec<&str> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && baseline[i] == current[j] {
            flush_gap(&mut rows, &mut removed, &mut added);
            rows.push(DiffRow {
                op: DiffOp::Equal,
                baseline: Some(&baseline[i]),
                current: Some(&current[j]),
            });
            i += 1;
            j += 1;
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            removed.push(&baseline[i]);
            i += 1;
        } else {
            added.push(&current[j]);
            j += 1;
        }
    }
    flush_gap(&mut rows, &mut removed, &mut added);
    rows
}

fn flush_gap<'a>(
    rows: &mut Vec<DiffRow<'a>>,
    removed: &mut Vec<&'a str>,
    added: &mut Vec<&'a str>,
) {
    let paired = removed.len().min(added.len());
    for k in 0..paired {
        rows.push(DiffRow {
            op: DiffOp::Changed,
            baseline: Some(removed[k]),
            current: Some(added[k]),
        });
    }
    for line in &removed[paired..] {
        rows.push(DiffRow {
            op: DiffOp::Removed,
            baseline: Some(*line),
            current: None,
        });
    }
    for line in &added[paired..] {
        rows.push(DiffRow {
            op: DiffOp::Added,
            baseline: None,
            current: Some(*line),
        });
    }
    removed.clear();
    added.clear();
}
