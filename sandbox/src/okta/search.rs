//! The subset of Okta's SCIM-style filter language used by `search` and `filter` on groups.
//!
//! Grammar (operators and `and`/`or` case-insensitive, `and` binds tighter than `or`):
//!
//! ```text
//! expr   := term ("or" term)*
//! term   := factor ("and" factor)*
//! factor := "(" expr ")" | ATTR "pr" | ATTR OP VALUE
//! OP     := eq | ne | sw | co | gt | ge | lt | le
//! VALUE  := "quoted string" (with \" and \\ escapes) | true | false | null | number
//! ```
//!
//! String comparisons ignore case, as Okta's do for profile attributes; timestamps compare as
//! strings, which works because Okta's format sorts chronologically.

use std::borrow::Cow;

/// Expressions longer than this are refused (they come from a query string).
const MAX_LEN: usize = 4096;
/// Parentheses deeper than this are refused (the parser recurses).
const MAX_DEPTH: usize = 32;

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid search expression: {0}")]
pub(crate) struct SearchError(&'static str);

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Sw,
    Co,
    Gt,
    Ge,
    Lt,
    Le,
    Pr,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cmp {
        attr: String,
        op: Op,
        value: Option<String>,
    },
}

impl Expr {
    /// Parses `input`.
    pub(crate) fn parse(input: &str) -> Result<Self, SearchError> {
        if input.len() > MAX_LEN {
            return Err(SearchError("too long"));
        }
        let tokens = lex(input)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let expr = p.expr()?;
        if p.pos != p.tokens.len() {
            return Err(SearchError("unexpected trailing input"));
        }
        Ok(expr)
    }

    /// Whether an object matches; `lookup` gives an attribute's value (None when absent).
    pub(crate) fn matches<'a>(&self, lookup: &dyn Fn(&str) -> Option<Cow<'a, str>>) -> bool {
        match self {
            Expr::Or(v) => v.iter().any(|e| e.matches(lookup)),
            Expr::And(v) => v.iter().all(|e| e.matches(lookup)),
            Expr::Cmp { attr, op, value } => {
                let actual = lookup(attr);
                match (*op, actual, value) {
                    (Op::Pr, a, _) => a.is_some(),
                    (Op::Eq, None, None) => true,
                    (Op::Ne, None, None) => false,
                    (Op::Ne, None, Some(_)) => true,
                    (_, None, _) | (_, Some(_), None) => *op == Op::Ne,
                    (op, Some(a), Some(v)) => {
                        let a = a.to_lowercase();
                        let v = v.to_lowercase();
                        match op {
                            Op::Eq => a == v,
                            Op::Ne => a != v,
                            Op::Sw => a.starts_with(&v),
                            Op::Co => a.contains(&v),
                            Op::Gt => a > v,
                            Op::Ge => a >= v,
                            Op::Lt => a < v,
                            Op::Le => a <= v,
                            Op::Pr => true,
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Str(String),
}

fn lex(input: &str) -> Result<Vec<Token>, SearchError> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(SearchError("unterminated string")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => s.push(e),
                            _ => return Err(SearchError("bad escape in string")),
                        },
                        Some(c) => s.push(c),
                    }
                }
                out.push(Token::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn expr(&mut self) -> Result<Expr, SearchError> {
        let mut terms = vec![self.term()?];
        while self.peek_word("or") {
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn term(&mut self) -> Result<Expr, SearchError> {
        let mut factors = vec![self.factor()?];
        while self.peek_word("and") {
            self.pos += 1;
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.remove(0)
        } else {
            Expr::And(factors)
        })
    }

    fn factor(&mut self) -> Result<Expr, SearchError> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(SearchError("too deeply nested"));
                }
                self.pos += 1;
                let e = self.expr()?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return Err(SearchError("missing ')'"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(e)
            }
            Some(Token::Word(attr)) => {
                if !attr
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    return Err(SearchError("bad attribute name"));
                }
                self.pos += 1;
                let op = match self.tokens.get(self.pos) {
                    Some(Token::Word(op)) => match op.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "sw" => Op::Sw,
                        "co" => Op::Co,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        "pr" => Op::Pr,
                        _ => return Err(SearchError("unknown operator")),
                    },
                    _ => return Err(SearchError("missing operator")),
                };
                self.pos += 1;
                if op == Op::Pr {
                    return Ok(Expr::Cmp {
                        attr,
                        op,
                        value: None,
                    });
                }
                let value = match self.tokens.get(self.pos) {
                    Some(Token::Str(s)) => Some(s.clone()),
                    Some(Token::Word(w)) if w == "null" => None,
                    Some(Token::Word(w))
                        if w == "true"
                            || w == "false"
                            || w.parse::<f64>().is_ok_and(f64::is_finite) =>
                    {
                        Some(w.clone())
                    }
                    _ => return Err(SearchError("missing or unquoted value")),
                };
                self.pos += 1;
                Ok(Expr::Cmp { attr, op, value })
            }
            _ => Err(SearchError("expected an attribute or '('")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group<'a>(name: &'a str, kind: &'a str) -> impl Fn(&str) -> Option<Cow<'a, str>> {
        move |attr| match attr {
            "profile.name" => Some(Cow::Borrowed(name)),
            "type" => Some(Cow::Borrowed(kind)),
            _ => None,
        }
    }

    #[test]
    fn forms_okta_documents() {
        let eng = group("Engineering", "OKTA_GROUP");
        let app = group("Sales", "APP_GROUP");
        let cases = [
            (r#"type eq "OKTA_GROUP""#, true, false),
            (r#"profile.name eq "engineering""#, true, false),
            (r#"profile.name sw "Eng""#, true, false),
            (r#"profile.name co "ale""#, false, true),
            (r#"type eq "APP_GROUP" or profile.name sw "E""#, true, true),
            (
                r#"type eq "APP_GROUP" and profile.name sw "E""#,
                false,
                false,
            ),
            (
                r#"(type eq "OKTA_GROUP" or type eq "APP_GROUP") AND profile.name sw "S""#,
                false,
                true,
            ),
            (r#"profile.description pr"#, false, false),
            (r#"profile.description eq null"#, true, true),
            (r#"type ne "OKTA_GROUP""#, false, true),
        ];
        for (expr, a, b) in cases {
            let e = Expr::parse(expr).unwrap();
            assert_eq!((e.matches(&eng), e.matches(&app)), (a, b), "{expr}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "type",
            "type eq",
            "type eq OKTA_GROUP",
            r#"type xx "a""#,
            r#"type eq "a" and"#,
            r#"(type eq "a""#,
            r#"type eq "a")"#,
            r#"type eq "a"#,
            r#"ty$pe eq "a""#,
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}type eq \"a\"{}", "(".repeat(100), ")".repeat(100));
        assert!(Expr::parse(&deep).is_err());
        assert!(Expr::parse(&"a".repeat(MAX_LEN + 1)).is_err());
    }
}
