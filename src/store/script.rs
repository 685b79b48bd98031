//! Parameters of statements run with values chosen at run time, and SQLite statements whose
//! numbered parameters (`$N`) are made positional (`?`), with the number behind each, so that
//! the SQLite seat thread binds every value where it is used, however often and in whatever
//! order the statement names it.

use sqlx::query::QueryAs;
use sqlx::{Database, Encode, Type};

/// A parameter value.
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// NULL.
    Null,
}

impl Arg {
    /// Text from a borrowed string.
    pub fn text(s: &str) -> Self {
        Arg::Text(s.to_string())
    }
}

/// Binds `args` in order to `q`, a statement of any database.
pub fn bind<'q, DB, O>(
    mut q: QueryAs<'q, DB, O, <DB as Database>::Arguments<'q>>,
    args: &'q [Arg],
) -> QueryAs<'q, DB, O, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
{
    for arg in args {
        q = match arg {
            Arg::Int(i) => q.bind(*i),
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Null => q.bind(None::<i64>),
        };
    }
    q
}

/// SQLite statements with numbered parameters, rewritten to positional ones.
#[derive(Debug)]
pub struct Script {
    sql: String,
    /// The number behind each positional parameter, in order.
    order: Vec<usize>,
}

impl Script {
    /// Rewrites `sql`, whose parameters are all `$N` (and whose string literals hold no `$`).
    pub fn new(sql: &str) -> Self {
        let mut out = String::with_capacity(sql.len());
        let mut order = Vec::new();
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            out.push('?');
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            order.push(rest[..digits].parse().expect("numbered parameter"));
            rest = &rest[digits..];
        }
        out.push_str(rest);
        Self { sql: out, order }
    }

    /// The rewritten SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The number `N` of the `$N` behind each positional parameter, in order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_positional() {
        let s = Script::new("SELECT $2, $1;\nUPDATE t SET a = $12 WHERE b = $2");
        assert_eq!(s.sql, "SELECT ?, ?;\nUPDATE t SET a = ? WHERE b = ?");
        assert_eq!(s.order, [2, 1, 12, 2]);
    }
}
