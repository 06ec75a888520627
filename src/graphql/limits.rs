//! Caps that async-graphql does not have built in: aliases and root fields
//! per document. Both multiply work without deepening a query, which the
//! depth and complexity limits would not catch.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Most aliased fields in one document.
pub const MAX_ALIASES: usize = 30;
/// Most fields at the root of one operation.
pub const MAX_ROOT_FIELDS: usize = 20;

/// A refused document: its error code and message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => usize::from(f.node.alias.is_some()) + aliases(&f.node.selection_set.node),
            Selection::InlineFragment(i) => aliases(&i.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn root_fields(set: &SelectionSet, doc: &ExecutableDocument, depth: usize) -> usize {
    if depth > 8 {
        return 0; // fragment cycles are the validator's to report
    }
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => root_fields(&i.node.selection_set.node, doc, depth + 1),
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| root_fields(&f.node.selection_set.node, doc, depth + 1)),
        })
        .sum()
}

pub fn check(doc: &ExecutableDocument) -> Result<(), Refused> {
    let total_aliases: usize = doc.operations.iter().map(|(_, op)| aliases(&op.node.selection_set.node)).sum::<usize>()
        + doc.fragments.values().map(|f| aliases(&f.node.selection_set.node)).sum::<usize>();
    if total_aliases > MAX_ALIASES {
        return Err(Refused {
            code: "QUERY_TOO_MANY_ALIASES",
            message: format!("the document has {total_aliases} aliases; at most {MAX_ALIASES} are allowed"),
        });
    }
    for (_, op) in doc.operations.iter() {
        let n = root_fields(&op.node.selection_set.node, doc, 0);
        if n > MAX_ROOT_FIELDS {
            return Err(Refused {
                code: "QUERY_TOO_MANY_ROOT_FIELDS",
                message: format!("an operation selects {n} root fields; at most {MAX_ROOT_FIELDS} are allowed"),
            });
        }
    }
    Ok(())
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
        assert_eq!(check(&parse(&format!("{{ {aliased} }}"))).unwrap_err().code, "QUERY_TOO_MANY_ALIASES");
        let fields: String = (0..21).map(|_| "__typename ".to_string()).collect();
        let doc = parse(&format!("query {{ ...F }} fragment F on Query {{ {fields} }}"));
        assert_eq!(check(&doc).unwrap_err().code, "QUERY_TOO_MANY_ROOT_FIELDS");
        assert!(check(&parse("{ a: provinces { totalCount } b: hubs { totalCount } }")).is_ok());
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
