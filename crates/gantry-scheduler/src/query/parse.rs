//! The grammar, by recursive descent:
//!
//! ```text
//! expr    = and { ("||" | "or") and }
//! and     = unary { ("&&" | "and") unary }
//! unary   = ("!" | "not") unary | "(" expr ")" | cond
//! cond    = subject op [argument]
//! subject = "attribute:" name | "agentConnected" | "agentVersion" | "registeredAt"
//!         | "ec2InstanceType" | "ec2InstanceId" | "instanceId" | "runningTasksCount"
//!         | "task:group"
//! op      = "==" | "equals" | "!=" | "not_equals" | ">" | "greater_than"
//!         | ">=" | "greater_than_equal" | "<" | "less_than" | "<=" | "less_than_equal"
//!         | "exists" | "!exists" | "not_exists" | "in" | "!in" | "not_in"
//!         | "=~" | "matches" | "!~" | "not_matches"
//! argument = value | "[" [ value { "," value } ] "]"
//! ```
//!
//! Keywords and operator words are read in any case. Arguments are checked against the
//! subject here (a date for `registeredAt`, a number for `runningTasksCount`, a version for
//! ordering `agentVersion`, a valid pattern for `=~`), so evaluation cannot fail.

use super::lex::Lexer;
use super::{value, Arg, Cond, Expr, Literal, Op, Pattern, Subject};

/// How deep parentheses and `!` may nest: ECS caps expressions at 2,000 characters, and a
/// recursive parser must not overflow the stack on `((((...`.
const MAX_DEPTH: usize = 64;

/// Longest expression accepted, in characters (ECS's limit).
pub const MAX_LEN: usize = 2000;

/// Why an expression does not parse: what was expected, at which 0-based character position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} at position {position}{}", found.as_ref().map(|f| format!(", found `{f}`")).unwrap_or_default())]
pub struct ParseError {
    pub position: usize,
    pub expected: String,
    /// The text found there, when there was some.
    pub found: Option<String>,
}

/// Parses a cluster query.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let length = text.chars().count();
    if length > MAX_LEN {
        return Err(ParseError {
            position: MAX_LEN,
            expected: format!("at most {MAX_LEN} characters"),
            found: None,
        });
    }
    let mut p = Parser {
        lex: Lexer::new(text),
        depth: 0,
    };
    let expr = p.or()?;
    if !p.lex.at_end() {
        return Err(p.error("`&&`, `||` or the end of the expression"));
    }
    Ok(expr)
}

struct Parser {
    lex: Lexer,
    depth: usize,
}

impl Parser {
    /// An error at the next token, naming what is there.
    fn error(&mut self, expected: impl Into<String>) -> ParseError {
        let position = self.lex.skip_ws();
        let found = self
            .lex
            .value()
            .ok()
            .flatten()
            .or_else(|| self.lex.peek().map(String::from));
        ParseError {
            position,
            expected: expected.into(),
            found,
        }
    }

    fn error_at(&self, position: usize, expected: impl Into<String>, found: &str) -> ParseError {
        ParseError {
            position,
            expected: expected.into(),
            found: Some(found.to_string()),
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        loop {
            self.lex.skip_ws();
            if self.lex.eat("||") || self.lex.eat_keyword("or") {
                let right = self.and()?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            self.lex.skip_ws();
            if self.lex.eat("&&") || self.lex.eat_keyword("and") {
                let right = self.unary()?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let at = self.lex.skip_ws();
        if self.depth >= MAX_DEPTH {
            return Err(ParseError {
                position: at,
                expected: format!("at most {MAX_DEPTH} nested parentheses or negations"),
                found: None,
            });
        }
        self.depth += 1;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        if self.lex.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.lex.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.lex.eat("(") {
            let inner = self.or()?;
            self.lex.skip_ws();
            if !self.lex.eat(")") {
                return Err(self.error("`)`, `&&` or `||`"));
            }
            return Ok(inner);
        }
        self.cond().map(Expr::Cond)
    }

    fn cond(&mut self) -> Result<Cond, ParseError> {
        let at = self.lex.skip_ws();
        let word = self.lex.subject_word();
        let subject = match subject(&word) {
            Some(Subject::Attribute(name)) if name.is_empty() => {
                return Err(self.error("an attribute name after `attribute:`"));
            }
            Some(s) => s,
            None => {
                self.lex.pos = at;
                return Err(self.error(
                    "a subject (attribute:<name>, agentConnected, agentVersion, ec2InstanceId, \
                     ec2InstanceType, instanceId, registeredAt, runningTasksCount, task:group), \
                     `!`, `not` or `(`",
                ));
            }
        };
        self.lex.skip_ws();
        let op = self
            .op()
            .ok_or_else(|| self.error(format!("an operator after `{word}`")))?;
        let arg = self.arg(&subject, op)?;
        Ok(Cond { subject, op, arg })
    }

    fn op(&mut self) -> Option<Op> {
        const SYMBOLS: [(&str, Op); 10] = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=~", Op::Matches),
            ("!~", Op::NotMatches),
            ("!exists", Op::NotExists),
            ("!in", Op::NotIn),
        ];
        let start = self.lex.pos;
        for (symbol, op) in SYMBOLS {
            if self.lex.eat(symbol) {
                // `!in`/`!exists` are words: `!inside` is not `!in` followed by `side`.
                let word_op = symbol.starts_with('!') && symbol.len() > 2;
                if word_op && !self.lex.subject_word().is_empty() {
                    self.lex.pos = start;
                    return None;
                }
                return Some(op);
            }
        }
        let word = self.lex.subject_word().to_ascii_lowercase();
        let op = match word.as_str() {
            "equals" => Op::Eq,
            "not_equals" => Op::Ne,
            "greater_than" => Op::Gt,
            "greater_than_equal" => Op::Ge,
            "less_than" => Op::Lt,
            "less_than_equal" => Op::Le,
            "exists" => Op::Exists,
            "not_exists" => Op::NotExists,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "matches" => Op::Matches,
            "not_matches" => Op::NotMatches,
            _ => {
                self.lex.pos = start;
                return None;
            }
        };
        Some(op)
    }

    fn arg(&mut self, subject: &Subject, op: Op) -> Result<Arg, ParseError> {
        match op {
            Op::Exists | Op::NotExists => Ok(Arg::None),
            Op::In | Op::NotIn => {
                self.lex.skip_ws();
                if !self.lex.eat("[") {
                    // A bare single value is a list of one.
                    return Ok(Arg::List(vec![self.literal(subject, op)?]));
                }
                let mut list = Vec::new();
                self.lex.skip_ws();
                if self.lex.eat("]") {
                    return Ok(Arg::List(list));
                }
                loop {
                    list.push(self.literal(subject, op)?);
                    self.lex.skip_ws();
                    if self.lex.eat("]") {
                        return Ok(Arg::List(list));
                    }
                    if !self.lex.eat(",") {
                        return Err(self.error("`,` or `]` in the argument list"));
                    }
                }
            }
            Op::Matches | Op::NotMatches => {
                let at = self.lex.skip_ws();
                let source = self.text(&format!("a pattern after `{op}`"))?;
                let regex = compile(&source).ok_or_else(|| {
                    self.error_at(at, "a regular expression or `*` wildcard pattern", &source)
                })?;
                Ok(Arg::Pattern(Pattern { source, regex }))
            }
            Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                Ok(Arg::Value(self.literal(subject, op)?))
            }
        }
    }

    /// The next argument's text.
    fn text(&mut self, expected: &str) -> Result<String, ParseError> {
        let at = self.lex.skip_ws();
        match self.lex.value() {
            Ok(Some(text)) => Ok(text),
            Ok(None) => Err(self.error(expected)),
            Err(_) => Err(ParseError {
                position: at,
                expected: "a closing quote".into(),
                found: None,
            }),
        }
    }

    /// A literal, read as the subject compares it.
    fn literal(&mut self, subject: &Subject, op: Op) -> Result<Literal, ParseError> {
        let at = self.lex.skip_ws();
        let text = self.text(&format!("a value after `{op}`"))?;
        let ordered = matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le);
        let mut lit = Literal {
            number: value::number(&text),
            version: None,
            text,
        };
        match subject {
            Subject::RegisteredAt => {
                lit.number = value::date(&lit.text).or(lit.number);
                if lit.number.is_none() {
                    return Err(self.error_at(
                        at,
                        "a date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss, optionally with Z or an offset)",
                        &lit.text,
                    ));
                }
            }
            Subject::RunningTasksCount if lit.number.is_none() => {
                return Err(self.error_at(at, "a number", &lit.text));
            }
            Subject::AgentVersion => {
                lit.version = value::version(&lit.text);
                if ordered && lit.version.is_none() {
                    return Err(self.error_at(at, "a version such as 1.14.5", &lit.text));
                }
            }
            _ => {}
        }
        Ok(lit)
    }
}

fn subject(word: &str) -> Option<Subject> {
    if let Some(name) = strip_prefix_ignore_case(word, "attribute:") {
        return Some(Subject::Attribute(name.to_string()));
    }
    Some(match word.to_ascii_lowercase().as_str() {
        "agentconnected" => Subject::AgentConnected,
        "agentversion" => Subject::AgentVersion,
        "registeredat" => Subject::RegisteredAt,
        "ec2instancetype" => Subject::Ec2InstanceType,
        "ec2instanceid" => Subject::InstanceId { ec2: true },
        "instanceid" => Subject::InstanceId { ec2: false },
        "runningtaskscount" => Subject::RunningTasksCount,
        "task:group" => Subject::TaskGroup,
        _ => return None,
    })
}

fn strip_prefix_ignore_case<'a>(word: &'a str, prefix: &str) -> Option<&'a str> {
    let head = word.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &word[prefix.len()..])
}

/// The pattern as a whole-value regular expression; failing that, as a `*` wildcard.
fn compile(source: &str) -> Option<regex::Regex> {
    let build = |re: &str| {
        regex::RegexBuilder::new(&format!("^(?:{re})$"))
            .size_limit(1 << 20)
            .build()
            .ok()
    };
    build(source).or_else(|| {
        if !source.contains('*') {
            return None;
        }
        let glob: Vec<String> = source.split('*').map(regex::escape).collect();
        build(&glob.join(".*"))
    })
}
