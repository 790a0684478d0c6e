//! Reading PostgreSQL's text-format EXPLAIN (what psql shows by default, what people paste) into
//! the same [`Explain`] tree the JSON gives.
//!
//! Accepted: `EXPLAIN`, `EXPLAIN ANALYZE` and every option that changes the text (`BUFFERS`,
//! `VERBOSE`, `SETTINGS`, `WAL`, `TIMING OFF`, `COSTS OFF`), as psql prints it (the `QUERY PLAN`
//! header, the `----` rule, the `(N rows)` footer, the leading space, stray command tags such as
//! `SET`) or without any of that (`psql -At`, explain.depesz.com and pev2 pastes); and
//! auto_explain's text entries in a server log (`duration: … ms  plan:`, then the plan on lines
//! starting with a tab, `Query Text:` first).
//!
//! The tree comes from indentation, as explain.c writes it: a node's details sit two columns to
//! the right of its name, its children's `->` arrows at the same column, and a `SubPlan 1`,
//! `InitPlan 1 (returns $0)` or `CTE name` line there names the one child indented under it. The
//! text does not say everything the JSON does: a child's `Parent Relationship` is inferred (Outer
//! and Inner by position, Member under Append, Merge Append and the bitmap set nodes, Subquery
//! under Subquery Scan), `Alias` is the relation's name when the text shows none, and
//! `(never executed)` is zero loops and rows. Lines this reader does not know become `extra`
//! properties of their node (or of the plan); a text with no recognisable node is an error that
//! names the line.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::model::{Buffers, Explain, Jit, JitTiming, PlanNode, Plans, Trigger, Worker};
use super::node_type::NodeType;
use super::parse::ParseError;

/// Whether `text` looks like a text-format plan (a reason to read it as one).
pub(super) fn looks_like_text_plan(text: &str) -> bool {
    text.lines().any(|line| {
        let content = line.trim_start_matches(['\t', ' ']);
        match content.strip_prefix("->") {
            Some(child) => header(child.trim_start()).is_some_and(|h| h.has_figures || h.known),
            None => header(content).is_some_and(|h| h.has_figures),
        }
    })
}

/// Every text-format plan in `input`, in order.
pub(super) fn parse_text(input: &str) -> Result<Vec<Explain>, ParseError> {
    let mut explains = Vec::new();
    for segment in segments(input) {
        explains.extend(parse_segment(&segment)?);
    }
    if explains.is_empty() {
        let line = input
            .lines()
            .position(|line| line.contains("cost=") || line.contains("->"))
            .map_or(1, |index| index + 1);
        return Err(ParseError::TextPlan {
            line,
            message: "no plan node found (expected a line such as `Seq Scan on orders  (cost=0.00..18.50 rows=850 width=8)`)".to_string(),
        });
    }
    Ok(explains)
}

/// One input line: its number in the input (from 1), its indentation and its text.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: usize,
    indent: usize,
    content: &'a str,
}

/// Lines that belong together: one psql result, or one auto_explain entry.
struct Segment<'a> {
    lines: Vec<Line<'a>>,
    /// auto_explain's `duration:`, which stands for the execution time it does not print.
    duration_ms: Option<f64>,
}

fn segments(input: &str) -> Vec<Segment<'_>> {
    let log = input
        .lines()
        .any(|line| auto_explain_marker(line).is_some());
    let mut segments = Vec::new();
    let mut current = Segment {
        lines: Vec::new(),
        duration_ms: None,
    };
    // In a log: inside an entry, and whether its lines start with a tab (stderr logs) or not
    // (jsonlog's message, already cut out).
    let mut in_entry = false;
    let mut tabbed: Option<bool> = None;
    for (index, raw) in input.lines().enumerate() {
        let number = index + 1;
        let raw = raw.trim_end();
        if log {
            if let Some(duration) = auto_explain_marker(raw) {
                close(&mut current, &mut segments);
                current.duration_ms = duration;
                in_entry = true;
                tabbed = None;
                continue;
            }
            if !in_entry || raw.is_empty() {
                continue;
            }
            let is_tabbed = *tabbed.get_or_insert_with(|| raw.starts_with('\t'));
            if !is_tabbed {
                push_line(&mut current, number, raw);
            } else if let Some(body) = raw.strip_prefix('\t') {
                push_line(&mut current, number, body);
            } else {
                // A new log line: the entry is over.
                close(&mut current, &mut segments);
                in_entry = false;
            }
            continue;
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() || is_psql_decoration(trimmed) {
            close(&mut current, &mut segments);
            continue;
        }
        push_line(&mut current, number, raw);
    }
    close(&mut current, &mut segments);
    segments
}

fn close<'a>(current: &mut Segment<'a>, segments: &mut Vec<Segment<'a>>) {
    let done = std::mem::replace(
        current,
        Segment {
            lines: Vec::new(),
            duration_ms: None,
        },
    );
    if !done.lines.is_empty() {
        segments.push(done);
    }
}

fn push_line<'a>(segment: &mut Segment<'a>, number: usize, text: &'a str) {
    let content = text.trim_start_matches(' ');
    if content.is_empty() {
        return;
    }
    segment.lines.push(Line {
        number,
        indent: text.len() - content.len(),
        content,
    });
}

/// psql's column header, rule and row-count footer.
fn is_psql_decoration(trimmed: &str) -> bool {
    trimmed == "QUERY PLAN"
        || trimmed.chars().all(|c| c == '-' || c == '+')
        || trimmed
            .strip_prefix('(')
            .and_then(|rest| {
                rest.strip_suffix(" rows)")
                    .or_else(|| rest.strip_suffix(" row)"))
            })
            .is_some_and(|count| !count.is_empty() && count.chars().all(|c| c.is_ascii_digit()))
}

/// `... duration: 12.345 ms  plan:` (the plan follows): `Some(duration)`.
fn auto_explain_marker(line: &str) -> Option<Option<f64>> {
    let before = line.trim_end().strip_suffix("plan:")?;
    let after = &before[before.rfind("duration:")? + "duration:".len()..];
    let number = after.split_whitespace().next();
    Some(
        number
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|value| value.is_finite()),
    )
}

// ------------------------------------------------------------------------------ the tree

/// A node being read, with where its details and children are.
struct Frame {
    node: usize,
    /// The column of the node's detail lines and of its children's arrows.
    details: usize,
    /// A `SubPlan 1` / `InitPlan 1` / `CTE x` line waiting for its child: (column, name).
    label: Option<(usize, String)>,
    /// The `Worker N:` group open at this node: (column, index into `workers`).
    worker: Option<(usize, usize)>,
    /// Children not under a label so far (for Outer / Inner).
    unlabelled_children: usize,
}

/// A statement-level group: `Planning:` or `JIT:`, whose lines follow indented.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Planning,
    Jit,
}

/// One plan being read.
struct Builder {
    nodes: Vec<Option<PlanNode>>,
    children: Vec<Vec<usize>>,
    never_executed: Vec<bool>,
    stack: Vec<Frame>,
    root_indent: usize,
    group: Option<(usize, Group)>,
    explain: Explain,
}

impl Builder {
    fn new(root: PlanNode, never_executed: bool, line: Line<'_>) -> Builder {
        Builder {
            nodes: vec![Some(root)],
            children: vec![Vec::new()],
            never_executed: vec![never_executed],
            stack: vec![Frame {
                node: 0,
                details: line.indent + 2,
                label: None,
                worker: None,
                unlabelled_children: 0,
            }],
            root_indent: line.indent,
            group: None,
            explain: Explain::from_plan(PlanNode::default()),
        }
    }

    fn node(&mut self, index: usize) -> &mut PlanNode {
        self.nodes[index]
            .as_mut()
            .expect("nodes are taken only when finishing")
    }

    /// Pops the frames whose details are right of `indent`; false when none is left.
    fn unwind_to(&mut self, indent: usize) -> bool {
        while self.stack.len() > 1 && self.stack.last().is_some_and(|f| f.details > indent) {
            self.stack.pop();
        }
        indent > self.root_indent
    }

    fn child(&mut self, line: Line<'_>, text: &str) -> Result<(), ParseError> {
        if !self.unwind_to(line.indent) {
            return Err(ParseError::TextPlan {
                line: line.number,
                message: format!(
                    "child node `{}` is left of its plan's root",
                    shorten(line.content)
                ),
            });
        }
        let Some(parsed) = header(text) else {
            return Err(ParseError::TextPlan {
                line: line.number,
                message: "`->` is not followed by a plan node".to_string(),
            });
        };
        let frame = self.stack.last_mut().expect("unwind_to keeps one frame");
        frame.worker = None;
        let parent = frame.node;
        let (relationship, subplan_name) = match frame.label.take() {
            Some((column, name)) if column < line.indent => {
                let kind = if name.starts_with("SubPlan") {
                    "SubPlan"
                } else {
                    "InitPlan"
                };
                (kind.to_string(), Some(name))
            }
            _ => {
                let position = frame.unlabelled_children;
                frame.unlabelled_children += 1;
                let parent_type = &self.nodes[parent].as_ref().expect("open node").node_type;
                (member_relationship(parent_type, position).to_string(), None)
            }
        };
        let mut node = parsed.node;
        node.parent_relationship = Some(relationship);
        node.subplan_name = subplan_name;
        let index = self.nodes.len();
        self.nodes.push(Some(node));
        self.children.push(Vec::new());
        self.never_executed.push(parsed.never_executed);
        self.children[parent].push(index);
        // The node's name starts after "->" and its spaces; its details two columns further.
        let name_column = line.indent + (line.content.len() - text.len());
        self.stack.push(Frame {
            node: index,
            details: name_column + 2,
            label: None,
            worker: None,
            unlabelled_children: 0,
        });
        Ok(())
    }

    /// A line inside the tree that is not a node: a detail, a worker's detail or a subplan label.
    fn detail(&mut self, line: Line<'_>) {
        self.unwind_to(line.indent);
        let frame = self.stack.last_mut().expect("unwind_to keeps one frame");
        let node_index = frame.node;
        if let Some((column, worker)) = frame.worker
            && line.indent > column
        {
            let node = self.node(node_index);
            if let Some(worker) = node.workers.get_mut(worker) {
                worker_detail(worker, line.content);
            }
            return;
        }
        let frame = self.stack.last_mut().expect("unwind_to keeps one frame");
        frame.worker = None;
        if is_subplan_label(line.content) {
            frame.label = Some((line.indent, line.content.to_string()));
            return;
        }
        if let Some((number, rest)) = worker_line(line.content) {
            let column = line.indent;
            let node = self.node(node_index);
            let position = match node
                .workers
                .iter()
                .position(|w| w.worker_number == Some(number))
            {
                Some(position) => position,
                None => {
                    node.workers.push(Worker {
                        worker_number: Some(number),
                        ..Worker::default()
                    });
                    node.workers.len() - 1
                }
            };
            if !rest.is_empty() {
                worker_detail(&mut node.workers[position], rest);
            }
            self.stack.last_mut().expect("one frame").worker = Some((column, position));
            return;
        }
        node_detail(self.node(node_index), line.content);
    }

    /// A statement-level line (left of the root's details): timings, groups, settings, triggers.
    fn statement(&mut self, line: Line<'_>) {
        let content = line.content;
        let explain = &mut self.explain;
        if content == "Planning:" {
            self.group = Some((line.indent, Group::Planning));
            return;
        }
        if content == "JIT:" {
            self.group = Some((line.indent, Group::Jit));
            explain.jit.get_or_insert_with(Jit::default);
            return;
        }
        self.group = None;
        if let Some(trigger) = trigger_line(content) {
            explain.triggers.push(trigger);
            return;
        }
        let Some((key, value)) = split_key(content) else {
            return;
        };
        match key {
            "Planning Time" => explain.planning_time_ms = milliseconds(value),
            "Execution Time" => explain.execution_time_ms = milliseconds(value),
            "Settings" => explain.settings = settings(value),
            "Query Text" => explain.query_text = Some(value.to_string()),
            _ => {
                explain.extra.insert(key.to_string(), typed(value));
            }
        }
    }

    fn group_line(&mut self, group: Group, content: &str) {
        let Some((key, value)) = split_key(content) else {
            return;
        };
        match group {
            Group::Planning => {
                if key == "Buffers" {
                    let mut buffers = Buffers::default();
                    read_buffers(&mut buffers, value);
                    self.explain.planning_buffers = Some(buffers);
                }
            }
            Group::Jit => {
                let jit = self.explain.jit.get_or_insert_with(Jit::default);
                match key {
                    "Functions" => jit.functions = value.trim().parse().unwrap_or(0),
                    "Options" => {
                        for option in value.split(", ") {
                            if let Some((name, flag)) = option.trim().rsplit_once(' ') {
                                jit.options.insert(name.to_string(), flag == "true");
                            }
                        }
                    }
                    "Timing" => jit.timing = Some(jit_timing(value)),
                    _ => {
                        jit.extra.insert(key.to_string(), typed(value));
                    }
                }
            }
        }
    }

    fn finish(mut self, duration_ms: Option<f64>) -> Explain {
        let timed = self
            .nodes
            .iter()
            .flatten()
            .any(|n| n.actual_total_time.is_some());
        for (index, never) in self.never_executed.clone().into_iter().enumerate() {
            if never {
                let node = self.node(index);
                node.actual_loops = Some(0.0);
                node.actual_rows = Some(0.0);
                if timed {
                    node.actual_startup_time = Some(0.0);
                    node.actual_total_time = Some(0.0);
                }
            }
        }
        // Children always come after their parent: assemble from the last node back.
        for index in (1..self.nodes.len()).rev() {
            let kids = std::mem::take(&mut self.children[index]);
            if kids.is_empty() {
                continue;
            }
            let plans: Plans = kids
                .into_iter()
                .map(|kid| self.nodes[kid].take().expect("each node has one parent"))
                .collect();
            self.node(index).plans = plans;
        }
        let kids = std::mem::take(&mut self.children[0]);
        let plans: Plans = kids
            .into_iter()
            .map(|kid| self.nodes[kid].take().expect("each node has one parent"))
            .collect();
        let mut root = self.nodes[0].take().expect("the root");
        root.plans = plans;
        let mut explain = self.explain;
        explain.plan = root;
        if explain.execution_time_ms.is_none() {
            explain.execution_time_ms = duration_ms;
        }
        explain
    }
}

fn parse_segment(segment: &Segment<'_>) -> Result<Vec<Explain>, ParseError> {
    let mut explains = Vec::new();
    let mut builder: Option<Builder> = None;
    // Lines before the root: auto_explain's `Query Text:` and its continuation lines.
    let mut query_text: Option<String> = None;
    for &line in &segment.lines {
        let arrow = line.content.strip_prefix("->").map(str::trim_start);
        let Some(current) = builder.as_mut() else {
            if arrow.is_some() {
                return Err(ParseError::TextPlan {
                    line: line.number,
                    message: format!(
                        "child node `{}` comes before any plan root",
                        shorten(line.content)
                    ),
                });
            } else if let Some(parsed) = header(line.content).filter(|h| h.has_figures || h.known) {
                let mut started = Builder::new(parsed.node, parsed.never_executed, line);
                started.explain.query_text = query_text.take();
                builder = Some(started);
            } else if let Some(text) = line.content.strip_prefix("Query Text:") {
                query_text = Some(text.trim_start().to_string());
            } else if let Some(text) = query_text.as_mut() {
                text.push('\n');
                text.push_str(&" ".repeat(line.indent));
                text.push_str(line.content);
            }
            continue;
        };
        if let Some((column, group)) = current.group
            && line.indent > column
        {
            current.group_line(group, line.content);
            continue;
        }
        if let Some(text) = arrow {
            current.child(line, text)?;
        } else if line.indent <= current.root_indent {
            // A new plan (several in one paste) or a statement-level line.
            if let Some(parsed) = header(line.content).filter(|h| h.has_figures) {
                let done = builder.take().expect("checked above");
                explains.push(done.finish(segment.duration_ms));
                builder = Some(Builder::new(parsed.node, parsed.never_executed, line));
            } else {
                current.statement(line);
            }
        } else {
            current.detail(line);
        }
    }
    if let Some(done) = builder {
        explains.push(done.finish(segment.duration_ms));
    }
    Ok(explains)
}

/// How a child without a `SubPlan`/`InitPlan`/`CTE` line relates to its parent, as explain.c
/// names it in JSON.
fn member_relationship(parent: &NodeType, position: usize) -> &'static str {
    match parent {
        NodeType::Append | NodeType::MergeAppend | NodeType::BitmapAnd | NodeType::BitmapOr => {
            "Member"
        }
        NodeType::CustomScan => "Member",
        NodeType::SubqueryScan => "Subquery",
        _ if position == 0 => "Outer",
        _ => "Inner",
    }
}

fn is_subplan_label(content: &str) -> bool {
    let numbered = |prefix: &str| {
        content
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    numbered("SubPlan ")
        || numbered("InitPlan ")
        || (content.starts_with("CTE ") && !content.contains(": "))
}

/// `Worker 0:  rest` → (0, rest).
fn worker_line(content: &str) -> Option<(u32, &str)> {
    let rest = content.strip_prefix("Worker ")?;
    let (number, rest) = rest.split_once(':')?;
    let number = number.parse().ok()?;
    Some((number, rest.trim_start()))
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

// ------------------------------------------------------------------------------ node lines

struct Header {
    node: PlanNode,
    never_executed: bool,
    /// Costs, actual figures or `(never executed)` follow the name.
    has_figures: bool,
    /// The name is one of PostgreSQL's node types.
    known: bool,
}

/// A node line (without its `->`): `Hash Join  (cost=1.00..2.00 rows=3 width=4) (actual ...)`.
fn header(text: &str) -> Option<Header> {
    let mut rest = text.trim_end();
    let mut node = PlanNode::default();
    let mut never_executed = false;
    let mut has_figures = false;
    if let Some(before) = rest.strip_suffix("(never executed)") {
        never_executed = true;
        has_figures = true;
        rest = before.trim_end();
    } else if rest.ends_with(')')
        && let Some(open) = rest.rfind("(actual ")
    {
        actual_figures(&mut node, &rest[open + "(actual ".len()..rest.len() - 1])?;
        has_figures = true;
        rest = rest[..open].trim_end();
    }
    if rest.ends_with(')')
        && let Some(open) = rest.rfind("(cost=")
    {
        cost_figures(&mut node, &rest[open + "(cost=".len()..rest.len() - 1])?;
        has_figures = true;
        rest = rest[..open].trim_end();
    }
    // Without figures, a `Key: value` line is a detail, not a node (with them, a quoted name may
    // hold a colon).
    if rest.is_empty() || (!has_figures && (rest.contains(": ") || rest.ends_with(':'))) {
        return None;
    }
    let known = read_name(&mut node, rest);
    Some(Header {
        node,
        never_executed,
        has_figures,
        known,
    })
}

/// `0.00..18.50 rows=850 width=8`.
fn cost_figures(node: &mut PlanNode, text: &str) -> Option<()> {
    let mut words = text.split_whitespace();
    let (startup, total) = words.next()?.split_once("..")?;
    node.startup_cost = Some(startup.parse().ok()?);
    node.total_cost = Some(total.parse().ok()?);
    for word in words {
        let (key, value) = word.split_once('=')?;
        let value: f64 = value.parse().ok()?;
        match key {
            "rows" => node.plan_rows = Some(value),
            "width" => node.plan_width = Some(value),
            _ => {}
        }
    }
    Some(())
}

/// `time=0.010..1.234 rows=10 loops=1`, or `rows=10 loops=1` with TIMING OFF.
fn actual_figures(node: &mut PlanNode, text: &str) -> Option<()> {
    let (startup, total, rows, loops) = actuals(text)?;
    node.actual_startup_time = startup;
    node.actual_total_time = total;
    node.actual_rows = Some(rows);
    node.actual_loops = Some(loops);
    Some(())
}

type Actuals = (Option<f64>, Option<f64>, f64, f64);

fn actuals(text: &str) -> Option<Actuals> {
    let (mut startup, mut total, mut rows, mut loops) = (None, None, None, None);
    for word in text.split_whitespace() {
        let (key, value) = word.split_once('=')?;
        match key {
            "time" => {
                let (first, last) = value.split_once("..")?;
                startup = Some(first.parse().ok()?);
                total = Some(last.parse().ok()?);
            }
            "rows" => rows = Some(value.parse().ok()?),
            "loops" => loops = Some(value.parse().ok()?),
            _ => {}
        }
    }
    Some((startup, total, rows?, loops?))
}

/// Fills the node's type and its name's parts; false when the type is not one PostgreSQL has.
fn read_name(node: &mut PlanNode, name: &str) -> bool {
    let mut rest = name;
    let parallel = strip(&mut rest, "Parallel ");
    let asynchronous = strip(&mut rest, "Async ");
    node.parallel_aware = Some(parallel);
    node.async_capable = Some(asynchronous);

    // Aggregates: "[Partial |Finalize ](Aggregate|GroupAggregate|HashAggregate|MixedAggregate)".
    let mut aggregate = rest;
    let partial_mode = if strip(&mut aggregate, "Partial ") {
        "Partial"
    } else if strip(&mut aggregate, "Finalize ") {
        "Finalize"
    } else {
        "Simple"
    };
    let strategy = match aggregate {
        "Aggregate" => Some("Plain"),
        "GroupAggregate" => Some("Sorted"),
        "HashAggregate" => Some("Hashed"),
        "MixedAggregate" => Some("Mixed"),
        _ => None,
    };
    if let Some(strategy) = strategy {
        node.node_type = NodeType::Aggregate;
        node.strategy = Some(strategy.to_string());
        node.partial_mode = Some(partial_mode.to_string());
        return true;
    }

    // "SetOp Except All", "HashSetOp Intersect".
    for (prefix, strategy) in [("HashSetOp ", "Hashed"), ("SetOp ", "Sorted")] {
        if let Some(command) = rest.strip_prefix(prefix) {
            node.node_type = NodeType::SetOp;
            node.strategy = Some(strategy.to_string());
            node.extra
                .insert("Command".to_string(), Value::String(command.to_string()));
            return true;
        }
    }

    // Joins: the join type sits inside the name ("Hash Left Join", "Nested Loop Semi Join").
    if rest == "Nested Loop" {
        node.node_type = NodeType::NestedLoop;
        node.join_type = Some("Inner".to_string());
        return true;
    }
    for (prefix, node_type) in [
        ("Nested Loop ", NodeType::NestedLoop),
        ("Hash ", NodeType::HashJoin),
        ("Merge ", NodeType::MergeJoin),
    ] {
        if let Some(middle) = rest
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("Join"))
        {
            let join_type = middle.trim();
            node.node_type = node_type;
            node.join_type = Some(
                if join_type.is_empty() {
                    "Inner"
                } else {
                    join_type
                }
                .to_string(),
            );
            return true;
        }
    }

    // ModifyTable: "Insert on t", "Update on t u".
    for operation in ["Insert", "Update", "Delete", "Merge"] {
        if let Some(target) = rest
            .strip_prefix(operation)
            .and_then(|r| r.strip_prefix(" on "))
        {
            node.node_type = NodeType::ModifyTable;
            node.operation = Some(operation.to_string());
            relation_target(node, target);
            return true;
        }
    }

    // "Index [Only ]Scan[ Backward] using idx on t".
    for (prefix, node_type) in [
        ("Index Only Scan", NodeType::IndexOnlyScan),
        ("Index Scan", NodeType::IndexScan),
    ] {
        let mut after = rest;
        if strip(&mut after, prefix)
            && (after.is_empty() || after.starts_with(' '))
            && !after.starts_with(" on ")
        {
            let backward = strip(&mut after, " Backward");
            node.node_type = node_type;
            node.scan_direction = Some(if backward { "Backward" } else { "Forward" }.to_string());
            if let Some(using) = after.strip_prefix(" using ") {
                let (index, target) = identifier(using);
                node.index_name = Some(index);
                if let Some(target) = target.strip_prefix(" on ") {
                    relation_target(node, target);
                }
            }
            return true;
        }
    }
    if let Some(index) = rest.strip_prefix("Bitmap Index Scan on ") {
        node.node_type = NodeType::BitmapIndexScan;
        node.index_name = Some(identifier(index).0);
        return true;
    }
    if let Some(provider) = rest.strip_prefix("Custom Scan (") {
        node.node_type = NodeType::CustomScan;
        if let Some((name, target)) = provider.split_once(')') {
            node.extra.insert(
                "Custom Plan Provider".to_string(),
                Value::String(name.to_string()),
            );
            if let Some(target) = target.strip_prefix(" on ") {
                relation_target(node, target);
            }
        }
        return true;
    }

    let (base, target) = match rest.split_once(" on ") {
        Some((base, target)) => (base, Some(target)),
        None => (rest, None),
    };
    node.node_type = NodeType::from_name(base);
    let known = !matches!(node.node_type, NodeType::Other(_));
    if let Some(target) = target {
        match node.node_type {
            NodeType::FunctionScan => {
                let (schema, name, alias) = qualified_target(target);
                node.schema = schema;
                node.alias = Some(alias.unwrap_or_else(|| name.clone()));
                node.function_name = Some(name);
            }
            NodeType::CteScan | NodeType::WorkTableScan => {
                let (_, name, alias) = qualified_target(target);
                node.alias = Some(alias.unwrap_or_else(|| name.clone()));
                node.cte_name = Some(name);
            }
            NodeType::SubqueryScan | NodeType::ValuesScan => {
                node.alias = Some(identifier(target).0);
            }
            NodeType::TableFunctionScan | NodeType::NamedTuplestoreScan => {
                let (_, name, alias) = qualified_target(target);
                let key = if node.node_type == NodeType::TableFunctionScan {
                    "Table Function Name"
                } else {
                    "Tuplestore Name"
                };
                node.alias = Some(alias.unwrap_or_else(|| name.clone()));
                node.extra.insert(key.to_string(), Value::String(name));
            }
            _ => relation_target(node, target),
        }
    }
    known
}

fn strip(text: &mut &str, prefix: &str) -> bool {
    match text.strip_prefix(prefix) {
        Some(rest) => {
            *text = rest;
            true
        }
        None => false,
    }
}

/// `[schema.]relation [alias]`.
fn relation_target(node: &mut PlanNode, target: &str) {
    let (schema, relation, alias) = qualified_target(target);
    node.schema = schema;
    node.alias = Some(alias.unwrap_or_else(|| relation.clone()));
    node.relation_name = Some(relation);
}

/// `[schema.]name [alias]` → (schema, name, alias).
fn qualified_target(target: &str) -> (Option<String>, String, Option<String>) {
    let (first, rest) = identifier(target);
    let (schema, name, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let (name, rest) = identifier(after);
            (Some(first), name, rest)
        }
        None => (None, first, rest),
    };
    let alias = rest.strip_prefix(' ').map(|alias| identifier(alias).0);
    (schema, name, alias.filter(|a| !a.is_empty()))
}

/// One identifier as `quote_identifier` writes it (`orders`, `"Order Lines"`), and what follows.
fn identifier(text: &str) -> (String, &str) {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.char_indices().peekable();
        while let Some((index, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|(_, next)| *next == '"') {
                    chars.next();
                    name.push('"');
                    continue;
                }
                return (name, &quoted[index + 1..]);
            }
            name.push(c);
        }
        return (name, "");
    }
    let end = text.find([' ', '.']).unwrap_or(text.len());
    (text[..end].to_string(), &text[end..])
}

// ------------------------------------------------------------------------------ detail lines

/// `Key: value` → (key, value); `Key:` → (key, "").
fn split_key(content: &str) -> Option<(&str, &str)> {
    if let Some((key, value)) = content.split_once(": ") {
        return Some((key, value.trim()));
    }
    content.strip_suffix(':').map(|key| (key, ""))
}

/// The keys whose lines carry several `Key: value` pairs separated by two spaces.
const PAIRED: &[&str] = &[
    "Sort Method",
    "Buckets",
    "Batches",
    "Planned Partitions",
    "Hits",
    "Storage",
];

/// `Buckets: 1024  Batches: 1  Memory Usage: 9kB` → its pairs.
fn pairs(content: &str) -> Vec<(&str, &str)> {
    content
        .split("  ")
        .filter_map(|part| split_key(part.trim()))
        .collect()
}

fn node_detail(node: &mut PlanNode, content: &str) {
    let Some((key, value)) = split_key(content) else {
        // Not a `Key: value` line: kept as written.
        node.extra
            .insert(content.to_string(), Value::String(String::new()));
        return;
    };
    if PAIRED.contains(&key) {
        let line = pairs(content);
        let hash = key == "Buckets";
        for (key, value) in line {
            paired_detail(node, hash, key, value);
        }
        return;
    }
    let text = || Some(value.to_string());
    match key {
        "Filter" => node.filter = text(),
        "Index Cond" => node.index_cond = text(),
        "Recheck Cond" => node.recheck_cond = text(),
        "Join Filter" => node.join_filter = text(),
        "Hash Cond" => node.hash_cond = text(),
        "Merge Cond" => node.merge_cond = text(),
        "Rows Removed by Filter" => node.rows_removed_by_filter = value.parse().ok(),
        "Rows Removed by Index Recheck" => {
            node.rows_removed_by_index_recheck = value.parse().ok();
        }
        "Rows Removed by Join Filter" => node.rows_removed_by_join_filter = value.parse().ok(),
        "Output" => node.output = Some(list(value)),
        "Sort Key" => node.sort_key = Some(list(value)),
        "Presorted Key" => node.presorted_key = Some(list(value)),
        "Group Key" => node.group_key = Some(list(value)),
        "Workers Planned" => node.workers_planned = value.parse().ok(),
        "Workers Launched" => node.workers_launched = value.parse().ok(),
        "Heap Fetches" => node.heap_fetches = whole(value),
        "Heap Blocks" => {
            for word in value.split_whitespace() {
                match word.split_once('=') {
                    Some(("exact", n)) => node.exact_heap_blocks = whole(n),
                    Some(("lossy", n)) => node.lossy_heap_blocks = whole(n),
                    _ => {}
                }
            }
        }
        "Buffers" => read_buffers(&mut node.buffers, value),
        "I/O Timings" => io_timings(node, value),
        "Inner Unique" => node.inner_unique = Some(value == "true"),
        "WAL" => {
            for word in value.split_whitespace() {
                let Some((name, n)) = word.split_once('=') else {
                    continue;
                };
                let name = match name {
                    "records" => "WAL Records",
                    "fpi" => "WAL FPI",
                    "bytes" => "WAL Bytes",
                    "full" => "WAL Buffers Full",
                    _ => continue,
                };
                node.extra.insert(name.to_string(), typed(n));
            }
        }
        _ => {
            node.extra.insert(key.to_string(), typed(value));
        }
    }
}

fn paired_detail(node: &mut PlanNode, hash: bool, key: &str, value: &str) {
    match key {
        "Sort Method" => node.sort_method = Some(value.to_string()),
        "Memory" | "Disk" if node.sort_method.is_some() => {
            node.sort_space_used_kb = kilobytes(value);
            node.sort_space_type = Some(key.to_string());
        }
        "Buckets" => {
            let (now, originally) = with_original(value);
            node.hash_buckets = now;
            node.original_hash_buckets = originally.or(now);
        }
        "Batches" if hash => {
            let (now, originally) = with_original(value);
            node.hash_batches = now;
            node.original_hash_batches = originally.or(now);
        }
        "Batches" => node.hashagg_batches = whole(value),
        "Memory Usage" => node.peak_memory_usage_kb = kilobytes(value),
        "Disk Usage" => node.disk_usage_kb = kilobytes(value),
        "Planned Partitions" => node.planned_partitions = whole(value),
        "Hits" | "Misses" | "Evictions" | "Overflows" => {
            node.extra.insert(format!("Cache {key}"), typed(value));
        }
        _ => {
            node.extra.insert(key.to_string(), typed(value));
        }
    }
}

/// A line of a `Worker N:` group.
fn worker_detail(worker: &mut Worker, content: &str) {
    if let Some(figures) = content.strip_prefix("actual ") {
        if let Some((startup, total, rows, loops)) = actuals(figures) {
            worker.actual_startup_time = startup;
            worker.actual_total_time = total;
            worker.actual_rows = Some(rows);
            worker.actual_loops = Some(loops);
        }
        return;
    }
    let Some((key, value)) = split_key(content) else {
        return;
    };
    match key {
        "Sort Method" => {
            for (key, value) in pairs(content) {
                match key {
                    "Sort Method" => worker.sort_method = Some(value.to_string()),
                    "Memory" | "Disk" => {
                        worker.sort_space_used_kb = kilobytes(value);
                        worker.sort_space_type = Some(key.to_string());
                    }
                    _ => {
                        worker.extra.insert(key.to_string(), typed(value));
                    }
                }
            }
        }
        "Buffers" => read_buffers(&mut worker.buffers, value),
        _ if PAIRED.contains(&key) => {
            for (key, value) in pairs(content) {
                worker.extra.insert(key.to_string(), typed(value));
            }
        }
        _ => {
            worker.extra.insert(key.to_string(), typed(value));
        }
    }
}

/// `shared hit=1 read=2 dirtied=3 written=4, local hit=5, temp read=6 written=7`.
fn read_buffers(buffers: &mut Buffers, text: &str) {
    for group in text.split(", ") {
        let mut words = group.split_whitespace();
        let Some(kind) = words.next() else {
            continue;
        };
        for word in words {
            let Some((what, count)) = word.split_once('=') else {
                continue;
            };
            let Some(count) = whole(count) else {
                continue;
            };
            let counter = match (kind, what) {
                ("shared", "hit") => &mut buffers.shared_hit,
                ("shared", "read") => &mut buffers.shared_read,
                ("shared", "dirtied") => &mut buffers.shared_dirtied,
                ("shared", "written") => &mut buffers.shared_written,
                ("local", "hit") => &mut buffers.local_hit,
                ("local", "read") => &mut buffers.local_read,
                ("local", "dirtied") => &mut buffers.local_dirtied,
                ("local", "written") => &mut buffers.local_written,
                ("temp", "read") => &mut buffers.temp_read,
                ("temp", "written") => &mut buffers.temp_written,
                _ => continue,
            };
            *counter = count;
        }
    }
}

/// PG14: `read=1.2 write=0.3`; PG15: `shared/local read=1.2 write=0.3, temp read=...`;
/// PG16+: `shared read=1.2 write=0.3, local read=..., temp read=...`.
fn io_timings(node: &mut PlanNode, text: &str) {
    for group in text.split(", ") {
        let mut words: Vec<&str> = group.split_whitespace().collect();
        let kind = if words.first().is_some_and(|w| !w.contains('=')) {
            words.remove(0)
        } else {
            "shared/local"
        };
        for word in words {
            let Some((what, ms)) = word.split_once('=') else {
                continue;
            };
            let ms: Option<f64> = ms.parse().ok();
            let slot = match (kind, what) {
                ("shared/local", "read") => &mut node.io_read_time_ms,
                ("shared/local", "write") => &mut node.io_write_time_ms,
                ("shared", "read") => &mut node.shared_io_read_time_ms,
                ("shared", "write") => &mut node.shared_io_write_time_ms,
                ("local", "read") => &mut node.local_io_read_time_ms,
                ("local", "write") => &mut node.local_io_write_time_ms,
                ("temp", "read") => &mut node.temp_io_read_time_ms,
                ("temp", "write") => &mut node.temp_io_write_time_ms,
                _ => continue,
            };
            *slot = ms;
        }
    }
}

/// `Trigger name: time=1.234 calls=10`, `Trigger for constraint fk: ...`, `... on rel: ...`.
fn trigger_line(content: &str) -> Option<Trigger> {
    let rest = content.strip_prefix("Trigger ")?;
    let (head, figures) = rest.rsplit_once(": ")?;
    let mut trigger = Trigger::default();
    for word in figures.split_whitespace() {
        match word.split_once('=') {
            Some(("time", ms)) => trigger.time_ms = ms.parse().ok(),
            Some(("calls", n)) => trigger.calls = whole(n),
            _ => return None,
        }
    }
    let (head, relation) = match head.rsplit_once(" on ") {
        Some((head, relation)) => (head, Some(relation.to_string())),
        None => (head, None),
    };
    trigger.relation = relation;
    match head.split_once("for constraint ") {
        Some((name, constraint)) => {
            let name = name.trim();
            trigger.trigger_name = (!name.is_empty()).then(|| name.to_string());
            trigger.constraint_name = Some(constraint.to_string());
        }
        None => trigger.trigger_name = Some(head.to_string()),
    }
    Some(trigger)
}

/// `Generation 1.891 ms (Deform 0.2 ms), Inlining 0.000 ms, ..., Total 82.363 ms`.
fn jit_timing(text: &str) -> JitTiming {
    let mut timing = JitTiming::default();
    for part in text.split(", ") {
        let mut words = part.split_whitespace();
        let (Some(phase), Some(ms)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(ms) = ms.parse::<f64>() else {
            continue;
        };
        match phase {
            "Generation" => timing.generation = ms,
            "Inlining" => timing.inlining = ms,
            "Optimization" => timing.optimization = ms,
            "Emission" => timing.emission = ms,
            "Total" => timing.total = ms,
            _ => {}
        }
    }
    timing
}

/// `work_mem = '64MB', search_path = '"$user", public'` → the settings.
fn settings(text: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once(" = '") {
        // The value ends at a quote followed by `, name = '` or by the end.
        let mut end = None;
        for (index, _) in after.match_indices('\'') {
            let tail = &after[index + 1..];
            if tail.is_empty()
                || tail
                    .strip_prefix(", ")
                    .is_some_and(|t| t.split_once(" = '").is_some_and(|(n, _)| !n.contains(' ')))
            {
                end = Some(index);
                break;
            }
        }
        let end = end.unwrap_or(after.len());
        settings.insert(name.trim().to_string(), after[..end].to_string());
        rest = after.get(end + 1..).unwrap_or("");
        rest = rest.strip_prefix(", ").unwrap_or(rest);
    }
    settings
}

/// A comma-separated list of expressions, split where no parenthesis, bracket or quote is open.
fn list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (position, &(index, c)) in bytes.iter().enumerate() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 && bytes.get(position + 1).is_some_and(|(_, n)| *n == ' ') => {
                    items.push(text[start..index].trim().to_string());
                    start = index + 1;
                }
                _ => {}
            },
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() || items.is_empty() {
        items.push(last.to_string());
    }
    items
}

fn milliseconds(text: &str) -> Option<f64> {
    text.strip_suffix("ms")
        .unwrap_or(text)
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

fn kilobytes(text: &str) -> Option<u64> {
    whole(text.strip_suffix("kB").unwrap_or(text))
}

/// A counter; the decimals some versions print are dropped as the JSON reader does.
fn whole(text: &str) -> Option<u64> {
    let value: f64 = text.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value as u64)
}

/// `4096 (originally 1024)` → (4096, 1024).
fn with_original(text: &str) -> (Option<u64>, Option<u64>) {
    match text.split_once(" (originally ") {
        Some((now, originally)) => (whole(now), whole(originally.trim_end_matches(')'))),
        None => (whole(text), None),
    }
}

/// A value as JSON would carry it: a number, a boolean, or the text.
fn typed(text: &str) -> Value {
    if let Ok(integer) = text.parse::<i64>() {
        return Value::Number(integer.into());
    }
    if let Some(number) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(number);
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_string()),
    }
}
