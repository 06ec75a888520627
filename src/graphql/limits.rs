//! Caps that async-graphql does not have built in, checked before its own
//! validation sees a document: nesting in the raw text (before the parser
//! recurses into it), fragment cycles and fan-out (its depth and complexity
//! visitors expand fragments inline, without end on a cycle and
//! exponentially on fan-out), aliases and fields counted as expanded, root
//! fields, the length of literals, and introspection where it is off.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Positioned};

/// Most aliased fields in one document, as fragments expand.
pub const MAX_ALIASES: usize = 30;
/// Most fields at the root of one operation.
pub const MAX_ROOT_FIELDS: usize = 20;
/// Most selections (fields, spreads, inline fragments) in one document
/// once its fragments are expanded.
pub const MAX_SELECTIONS: usize = 1_000;
/// Deepest nesting of braces, brackets and parentheses in the text.
pub const MAX_NESTING: usize = 48;
/// Longest argument value written in a document; data goes in variables.
pub const MAX_ARGUMENT: usize = 16 * 1024;

/// A refused document: its error code and message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn refused(code: &'static str, message: String) -> Refused {
    Refused { code, message }
}

/// The deepest nesting of `{`, `[` and `(` outside strings and comments:
/// refused before parsing, so no document makes the parser recurse deeply.
pub fn check_text(text: &str) -> Result<(), Refused> {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    if deepest > MAX_NESTING {
        return Err(refused(
            "QUERY_TOO_DEEP",
            format!("the document nests {deepest} levels of brackets; at most {MAX_NESTING} are allowed"),
        ));
    }
    Ok(())
}

/// Selections and aliases of a selection set, fragments expanded.
#[derive(Clone, Copy, Default)]
struct Size {
    selections: usize,
    aliases: usize,
}

impl Size {
    const ONE: Size = Size { selections: 1, aliases: 0 };

    fn add(self, other: Size) -> Size {
        Size {
            selections: self.selections.saturating_add(other.selections),
            aliases: self.aliases.saturating_add(other.aliases),
        }
    }
}

/// Sizes of fragments, each computed once (so fan-out costs nothing to
/// count), with a cycle refused where it is found.
struct Expansion<'a> {
    doc: &'a ExecutableDocument,
    done: HashMap<&'a str, Size>,
    open: Vec<&'a str>,
}

impl<'a> Expansion<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Result<Size, Refused> {
        let mut size = Size::default();
        for item in &set.items {
            let more = match &item.node {
                Selection::Field(f) => {
                    let own = Size { selections: 1, aliases: usize::from(f.node.alias.is_some()) };
                    own.add(self.set(&f.node.selection_set.node)?)
                }
                Selection::InlineFragment(i) => Size::ONE.add(self.set(&i.node.selection_set.node)?),
                // A spread counts itself, so spreads of fragments with no fields still add up.
                Selection::FragmentSpread(spread) => Size::ONE.add(self.fragment(&spread.node.fragment_name.node)?),
            };
            size = size.add(more);
        }
        Ok(size)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Size, Refused> {
        if let Some(size) = self.done.get(name.as_str()) {
            return Ok(*size);
        }
        if self.open.contains(&name.as_str()) {
            return Err(refused(
                "GRAPHQL_VALIDATION_FAILED",
                format!("fragment \"{name}\" spreads itself (through {})", self.open.join(" → ")),
            ));
        }
        // An unknown fragment is the validator's to report.
        let Some(def) = self.doc.fragments.get(name) else { return Ok(Size::default()) };
        self.open.push(name.as_str());
        let size = self.set(&def.node.selection_set.node)?;
        self.open.pop();
        self.done.insert(name.as_str(), size);
        Ok(size)
    }
}

/// Root fields of an operation, through fragments (bounded: no cycles by
/// now, and the expanded count is within [`MAX_SELECTIONS`]).
fn root_fields(set: &SelectionSet, doc: &ExecutableDocument) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => root_fields(&i.node.selection_set.node, doc),
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| root_fields(&f.node.selection_set.node, doc)),
        })
        .sum()
}

/// Every selection set of the document: operations' and fragments', nested.
fn each_field<'a>(set: &'a SelectionSet, f: &mut impl FnMut(&'a Positioned<Field>)) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                f(field);
                each_field(&field.node.selection_set.node, f);
            }
            Selection::InlineFragment(i) => each_field(&i.node.selection_set.node, f),
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Checks a parsed document. `introspection`: whether this server answers
/// `__schema` and `__type`; where it does not, a document asking for them
/// anywhere is refused rather than answered with nulls. `text_len`: the
/// length of its text (0 for a persisted document, checked when it was kept).
/// No argument is longer than the text, so arguments are measured only in a
/// text that could hold one over [`MAX_ARGUMENT`], never on ordinary requests.
pub fn check(doc: &ExecutableDocument, introspection: bool, text_len: usize) -> Result<(), Refused> {
    let mut expansion = Expansion { doc, done: HashMap::new(), open: Vec::new() };
    let mut total = Size::default();
    for (_, op) in doc.operations.iter() {
        total = total.add(expansion.set(&op.node.selection_set.node)?);
    }
    for name in doc.fragments.keys() {
        expansion.fragment(name)?; // cycles in fragments no operation uses, too
    }
    if total.selections > MAX_SELECTIONS {
        return Err(refused(
            "QUERY_TOO_LARGE",
            format!(
                "the document has {} selections once its fragments are expanded; at most {MAX_SELECTIONS} are allowed",
                total.selections
            ),
        ));
    }
    if total.aliases > MAX_ALIASES {
        return Err(refused(
            "QUERY_TOO_MANY_ALIASES",
            format!("the document has {} aliases; at most {MAX_ALIASES} are allowed", total.aliases),
        ));
    }
    for (_, op) in doc.operations.iter() {
        let n = root_fields(&op.node.selection_set.node, doc);
        if n > MAX_ROOT_FIELDS {
            return Err(refused(
                "QUERY_TOO_MANY_ROOT_FIELDS",
                format!("an operation selects {n} root fields; at most {MAX_ROOT_FIELDS} are allowed"),
            ));
        }
    }
    let sets = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(doc.fragments.values().map(|f| &f.node.selection_set.node));
    let mut problem = None;
    for set in sets {
        each_field(set, &mut |field| {
            let name = field.node.name.node.as_str();
            if !introspection && (name == "__schema" || name == "__type") && problem.is_none() {
                problem = Some(refused(
                    "INTROSPECTION_DISABLED",
                    "introspection is off on this server: the schema is published as schema.graphql".into(),
                ));
            }
            if text_len <= MAX_ARGUMENT {
                return;
            }
            let longest = field.node.arguments.iter().map(|(_, v)| v.node.to_string().len()).max().unwrap_or(0);
            if longest > MAX_ARGUMENT && problem.is_none() {
                problem = Some(refused(
                    "QUERY_TOO_LARGE",
                    format!(
                        "an argument of {longest} bytes in the document; at most {MAX_ARGUMENT}: send data in variables"
                    ),
                ));
            }
        });
    }
    problem.map_or(Ok(()), Err)
}

/// The complexity of a list field: its page size times the cost of one
/// node. `first` is clamped to the pages a list serves (a larger one is
/// refused when the field resolves), and the product saturates below a
/// bound that sums of fields cannot overflow, so no document can make the
/// count panic or wrap.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    const CAP: usize = 1 << 32;
    let first = first.unwrap_or(super::connection::DEFAULT_PAGE).clamp(0, super::connection::MAX_PAGE);
    usize::try_from(first).unwrap_or(0).saturating_mul(child_complexity).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(q).unwrap()
    }

    #[test]
    fn counts_aliases_and_root_fields_through_fragments() {
        let aliased: String = (0..31).map(|i| format!("a{i}: provinces {{ totalCount }} ")).collect();
        assert_eq!(check(&parse(&format!("{{ {aliased} }}")), false, 0).unwrap_err().code, "QUERY_TOO_MANY_ALIASES");
        let fields: String = (0..21).map(|_| "__typename ".to_string()).collect();
        let doc = parse(&format!("query {{ ...F }} fragment F on Query {{ {fields} }}"));
        assert_eq!(check(&doc, false, 0).unwrap_err().code, "QUERY_TOO_MANY_ROOT_FIELDS");
        assert!(check(&parse("{ a: provinces { totalCount } b: hubs { totalCount } }"), false, 0).is_ok());
        // Five aliases spread seven times are 35 aliases in the answer.
        let doc = parse("{ ...F ...F ...F ...F ...F ...F ...F } fragment F on Query { a: x b: x c: x d: x e: x }");
        assert_eq!(check(&doc, false, 0).unwrap_err().code, "QUERY_TOO_MANY_ALIASES");
    }

    #[test]
    fn cycles_and_fan_out_are_refused_without_expanding_them() {
        let cycle = parse("{ ...A } fragment A on Query { x { ...B } } fragment B on X { y { ...A } }");
        assert_eq!(check(&cycle, false, 0).unwrap_err().code, "GRAPHQL_VALIDATION_FAILED");
        let unused = parse("{ x } fragment A on Query { ...A }");
        assert_eq!(check(&unused, false, 0).unwrap_err().code, "GRAPHQL_VALIDATION_FAILED");
        // Ten to the power of forty fields if expanded: counted in 40 steps.
        let mut doc = String::from("{ ...F0 }");
        for i in 0..40 {
            let spreads: String = (0..10).map(|_| format!("...F{} ", i + 1)).collect();
            doc.push_str(&format!(" fragment F{i} on Query {{ {spreads} }}"));
        }
        doc.push_str(" fragment F40 on Query { __typename }");
        assert_eq!(check(&parse(&doc), false, 0).unwrap_err().code, "QUERY_TOO_LARGE");
    }

    #[test]
    fn text_nesting_literals_and_introspection() {
        let deep = format!("{}{}", "{ a ".repeat(49), "}".repeat(49));
        assert_eq!(check_text(&deep).unwrap_err().code, "QUERY_TOO_DEEP");
        assert!(check_text(&format!("{}{}", "{ a ".repeat(48), "}".repeat(48))).is_ok());
        // Brackets in strings, block strings and comments do not count.
        let quoted =
            format!("{{ a(s: \"{}\", t: \"\"\"{}\"\"\") }} # {}", "{".repeat(99), "[".repeat(99), "(".repeat(99));
        assert!(check_text(&quoted).is_ok());
        let long = format!("{{ school(code: \"{}\") {{ name }} }}", "A".repeat(MAX_ARGUMENT + 1));
        assert_eq!(check(&parse(&long), false, long.len()).unwrap_err().code, "QUERY_TOO_LARGE");
        let hidden = parse("{ ...F } fragment F on Query { ... on Query { __type(name: \"Pupil\") { name } } }");
        assert_eq!(check(&hidden, false, 0).unwrap_err().code, "INTROSPECTION_DISABLED");
        assert!(check(&hidden, true, 0).is_ok());
    }

    #[test]
    fn page_costs_saturate_and_clamp() {
        assert_eq!(page_cost(None, 3), 60);
        assert_eq!(page_cost(Some(i32::MAX), 3), 300, "first is clamped to the largest page");
        assert_eq!(page_cost(Some(-5), 3), 0);
        assert_eq!(page_cost(Some(100), usize::MAX), 1 << 32, "the product saturates");
        let mut nested = 1;
        for _ in 0..10 {
            nested = page_cost(Some(i32::MAX), nested);
        }
        assert_eq!(nested, 1 << 32);
    }
}
