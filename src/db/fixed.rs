//! Statements of fixed SQL text that each connection prepares once and keeps.
//!
//! diesel's `sql_query` marks itself unsafe to cache, because it cannot tell
//! text written once from text built per call, so PostgreSQL parses and
//! plans it again on every run. The audit journal's insert, the office's
//! report and the upkeep ticks run such statements many times a second:
//! [`Fixed`] is the same statement, kept by the connection's statement cache
//! under its text like a statement of diesel's query builder.

use std::borrow::Cow;

use diesel::QueryResult;
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::sql_types::Untyped;

/// A statement whose text names its values `$1`, `$2`, … in the order given
/// to [`bind`](Fixed::bind). A value named twice is sent twice, as two
/// parameters of the prepared statement. Text built per call is fine as
/// long as its variants are few: the connection keeps one prepared
/// statement per distinct text, for as long as it lives.
pub struct Fixed<'a> {
    sql: Cow<'static, str>,
    binds: Vec<Box<dyn QueryFragment<Pg> + Send + 'a>>,
    kept: bool,
}

impl<'a> Fixed<'a> {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Fixed<'a> {
        Fixed { sql: sql.into(), binds: Vec::new(), kept: true }
    }

    /// Not kept by the connection: for text with too many variants to keep
    /// one prepared statement each (a report grouped by any dimensions in
    /// any order), parsed and planned on every call like `sql_query`.
    pub fn parsed_each_time(mut self) -> Fixed<'a> {
        self.kept = false;
        self
    }

    /// The next value, as SQL type `ST`.
    pub fn bind<ST, T>(mut self, value: T) -> Fixed<'a>
    where
        T: AsExpression<ST>,
        T::Expression: QueryFragment<Pg> + Send + 'a,
        ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType,
    {
        self.binds.push(Box::new(value.as_expression()));
        self
    }
}

impl QueryFragment<Pg> for Fixed<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if !self.kept {
            out.unsafe_to_cache_prepared();
        }
        let sql = self.sql.as_ref();
        let bytes = sql.as_bytes();
        let (mut from, mut at) = (0, 0);
        while at < bytes.len() {
            let digits = match bytes[at] {
                b'$' => bytes[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count(),
                _ => 0,
            };
            if digits == 0 {
                at += 1;
                continue;
            }
            let n: usize = sql[at + 1..at + 1 + digits].parse().unwrap_or(0);
            let bind = n.checked_sub(1).and_then(|i| self.binds.get(i)).ok_or_else(|| {
                Error::QueryBuilderError(format!("${n} of a fixed statement has no value bound").into())
            })?;
            out.push_sql(&sql[from..at]);
            // The value's own placeholder: the next of the statement as sent.
            bind.walk_ast(out.reborrow())?;
            at += 1 + digits;
            from = at;
        }
        out.push_sql(&sql[from..]);
        Ok(())
    }
}

/// No static id: the statement cache keys it by its text and values' types.
impl QueryId for Fixed<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Rows come back by name, as from `sql_query` (`QueryableByName`); diesel-async
/// runs any such query (`RunQueryDsl` is implemented for every type).
impl Query for Fixed<'_> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{Integer, Nullable, Text};

    #[test]
    fn each_named_value_gets_the_next_placeholder() {
        let q = Fixed::new("SELECT $1::int4 WHERE ($2::text IS NULL OR x = $2) AND y = $3")
            .bind::<Integer, _>(7)
            .bind::<Nullable<Text>, _>(Some("a".to_owned()))
            .bind::<Text, _>("b");
        let text = diesel::debug_query::<Pg, _>(&q).to_string();
        assert!(
            text.starts_with("SELECT $1::int4 WHERE ($2::text IS NULL OR x = $3) AND y = $4 -- binds: [7, Some(\"a\"), Some(\"a\"), \"b\"]"),
            "{text}"
        );
    }

    #[test]
    fn a_value_missing_is_an_error_not_a_statement() {
        let q = Fixed::new("SELECT $1, $2").bind::<Integer, _>(1);
        assert!(q.to_sql(&mut diesel::pg::PgQueryBuilder::default(), &Pg).is_err());
    }

    #[test]
    fn fixed_text_is_safe_to_cache_and_sql_query_is_not() {
        let fixed = Fixed::new("SELECT $1").bind::<Integer, _>(1);
        assert!(fixed.is_safe_to_cache_prepared(&Pg).unwrap());
        let raw = diesel::sql_query("SELECT $1").bind::<Integer, _>(1);
        assert!(!raw.is_safe_to_cache_prepared(&Pg).unwrap());
        let once = Fixed::new("SELECT $1").bind::<Integer, _>(1).parsed_each_time();
        assert!(!once.is_safe_to_cache_prepared(&Pg).unwrap());
    }
}
