//! The overlay position expressions of the user-data seed (`"(main_w-overlay_w)/2"`),
//! parsed against a small safe grammar by a hand-written recursive-descent parser and
//! evaluated here. Nothing a user writes is ever handed to ffmpeg: the result is a number
//! that becomes a typed caption position.
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/') unary)*
//! unary   := '-' unary | primary
//! primary := number | variable | '(' expr ')'
//! number  := digit+ ('.' digit+)?            at most 15 characters
//! variable:= main_w | main_h | overlay_w | overlay_h
//! ```
//!
//! Spaces and tabs may separate tokens. Limits: [`MAX_LEN`] bytes, [`MAX_TOKENS`] tokens,
//! [`MAX_DEPTH`] levels of parentheses and unary minus. Anything else (function calls,
//! other variables, `:`, `;`, `,`, quotes, brackets, exponents) is an [`ExprError`].

use std::fmt;

/// Longest expression, in bytes.
pub const MAX_LEN: usize = 256;
/// Most tokens in one expression.
pub const MAX_TOKENS: usize = 64;
/// Deepest nesting of parentheses and unary minus.
pub const MAX_DEPTH: usize = 32;
/// Longest number literal, in characters. 15 characters keep every literal exact in an
/// `f64` and its printed form no longer than the literal.
pub const MAX_NUMBER_LEN: usize = 15;

/// The four variables of ffmpeg's overlay filter that the seed's expressions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    /// Frame width.
    MainW,
    /// Frame height.
    MainH,
    /// Width of the overlaid block (the caption).
    OverlayW,
    /// Height of the overlaid block.
    OverlayH,
}

impl Var {
    pub const ALL: [Var; 4] = [Var::MainW, Var::MainH, Var::OverlayW, Var::OverlayH];

    pub fn name(self) -> &'static str {
        match self {
            Var::MainW => "main_w",
            Var::MainH => "main_h",
            Var::OverlayW => "overlay_w",
            Var::OverlayH => "overlay_h",
        }
    }

    fn from_name(s: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn symbol(self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }
}

/// A parsed expression. Numbers are finite and non-negative (a minus sign is [`Expr::Neg`]).
/// `Display` prints it back with only the parentheses it needs; parsing that text gives
/// the same tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Var(Var),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("expression is empty")]
    Empty,
    #[error("expression is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("expression has more than {MAX_TOKENS} tokens")]
    TooManyTokens,
    #[error("expression nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unexpected character {0:?} at byte {1}")]
    UnexpectedChar(char, usize),
    #[error("unknown variable {0:?}; allowed: main_w, main_h, overlay_w, overlay_h")]
    UnknownVariable(String),
    #[error("function calls are not allowed ({0:?})")]
    FunctionCall(String),
    #[error("invalid number {0:?}: digits with an optional decimal part, at most {MAX_NUMBER_LEN} characters")]
    BadNumber(String),
    #[error("unexpected {0} at byte {1}")]
    UnexpectedToken(&'static str, usize),
    #[error("expression ends too early")]
    UnexpectedEnd,
    #[error("division by zero")]
    DivisionByZero,
    #[error("result is not a finite number")]
    NotFinite,
}

/// At most this many characters of user text are echoed in an error.
const ECHO_CHARS: usize = 24;

fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(ECHO_CHARS).collect();
    if s.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Num(f64),
    Var(Var),
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
}

impl Tok {
    fn describe(self) -> &'static str {
        match self {
            Tok::Num(_) => "number",
            Tok::Var(_) => "variable",
            Tok::Plus => "'+'",
            Tok::Minus => "'-'",
            Tok::Star => "'*'",
            Tok::Slash => "'/'",
            Tok::LParen => "'('",
            Tok::RParen => "')'",
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn lex(s: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let bytes = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let tok = match b {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'+' => Tok::Plus,
            b'-' => Tok::Minus,
            b'*' => Tok::Star,
            b'/' => Tok::Slash,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'0'..=b'9' => {
                // The whole run of word characters and dots, so `1e309`, `1.2.3` and
                // `12px` are one bad number rather than a number and something else.
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
                let text = &s[start..i];
                toks.push((Tok::Num(number(text)?), start));
                check_count(&toks)?;
                continue;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                let word = &s[start..i];
                match Var::from_name(word) {
                    Some(v) => toks.push((Tok::Var(v), start)),
                    None => {
                        let next = bytes[i..].iter().find(|b| !matches!(b, b' ' | b'\t'));
                        return Err(if next == Some(&b'(') {
                            ExprError::FunctionCall(echo(word))
                        } else {
                            ExprError::UnknownVariable(echo(word))
                        });
                    }
                }
                check_count(&toks)?;
                continue;
            }
            _ => {
                // `i` is on a char boundary: only ASCII bytes were stepped over.
                let c = s[i..].chars().next().unwrap_or('\u{FFFD}');
                return Err(ExprError::UnexpectedChar(c, i));
            }
        };
        i += 1;
        toks.push((tok, start));
        check_count(&toks)?;
    }
    Ok(toks)
}

fn check_count(toks: &[(Tok, usize)]) -> Result<(), ExprError> {
    if toks.len() > MAX_TOKENS {
        Err(ExprError::TooManyTokens)
    } else {
        Ok(())
    }
}

/// `digit+ ('.' digit+)?`, at most [`MAX_NUMBER_LEN`] characters.
fn number(text: &str) -> Result<f64, ExprError> {
    let bad = || ExprError::BadNumber(echo(text));
    if text.len() > MAX_NUMBER_LEN {
        return Err(bad());
    }
    let (int, frac) = match text.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(bad());
    }
    let v: f64 = text.parse().map_err(|_| bad())?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad())
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<Tok> {
        self.toks.get(self.pos).map(|t| t.0)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(0)
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut lhs = self.term(depth)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => BinOp::Add,
                Some(Tok::Minus) => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.term(depth)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn term(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut lhs = self.unary(depth)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => BinOp::Mul,
                Some(Tok::Slash) => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.unary(depth)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        if self.peek() == Some(Tok::Minus) {
            let depth = deeper(depth)?;
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary(depth)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let at = self.at();
        let tok = self.peek().ok_or(ExprError::UnexpectedEnd)?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Var(v) => Ok(Expr::Var(v)),
            Tok::LParen => {
                let inner = self.expr(deeper(depth)?)?;
                match self.peek() {
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    Some(t) => Err(ExprError::UnexpectedToken(t.describe(), self.at())),
                    None => Err(ExprError::UnexpectedEnd),
                }
            }
            t => Err(ExprError::UnexpectedToken(t.describe(), at)),
        }
    }
}

fn deeper(depth: usize) -> Result<usize, ExprError> {
    if depth >= MAX_DEPTH {
        Err(ExprError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Parses a position expression. Never panics; every input outside the grammar or its
/// limits is an error.
pub fn parse(s: &str) -> Result<Expr, ExprError> {
    if s.len() > MAX_LEN {
        return Err(ExprError::TooLong);
    }
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err(ExprError::Empty);
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr(0)?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(ExprError::UnexpectedToken(t.describe(), p.at())),
    }
}

impl std::str::FromStr for Expr {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Expr {
    /// Evaluates with the frame (`main_*`) and overlaid block (`overlay_*`) sizes in
    /// pixels. Division by zero and non-finite results (from any step) are errors.
    /// Recursion is bounded by the parser's limits for parsed expressions.
    pub fn eval(
        &self,
        main_w: f64,
        main_h: f64,
        overlay_w: f64,
        overlay_h: f64,
    ) -> Result<f64, ExprError> {
        let vars = [main_w, main_h, overlay_w, overlay_h];
        if vars.iter().any(|v| !v.is_finite()) {
            return Err(ExprError::NotFinite);
        }
        self.eval_with(&vars)
    }

    fn eval_with(&self, vars: &[f64; 4]) -> Result<f64, ExprError> {
        let v = match self {
            Expr::Num(n) => *n,
            Expr::Var(v) => match v {
                Var::MainW => vars[0],
                Var::MainH => vars[1],
                Var::OverlayW => vars[2],
                Var::OverlayH => vars[3],
            },
            Expr::Neg(e) => -e.eval_with(vars)?,
            Expr::Bin(op, l, r) => {
                let (a, b) = (l.eval_with(vars)?, r.eval_with(vars)?);
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div if b == 0.0 => return Err(ExprError::DivisionByZero),
                    BinOp::Div => a / b,
                }
            }
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(ExprError::NotFinite)
        }
    }

    /// Binding strength when printed: atoms 4, unary minus 3, `* /` 2, `+ -` 1.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Num(_) | Expr::Var(_) => 4,
            Expr::Neg(_) => 3,
            Expr::Bin(op, ..) => op.precedence(),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{}` of an f64 is the shortest text that reads back as the same value, and
            // never uses an exponent.
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Var(v) => f.write_str(v.name()),
            Expr::Neg(e) => {
                f.write_str("-")?;
                write_operand(f, e, e.precedence() < 3)
            }
            Expr::Bin(op, l, r) => {
                let p = op.precedence();
                // Left-associative: a right operand of equal precedence needs parentheses.
                write_operand(f, l, l.precedence() < p)?;
                write!(f, "{}", op.symbol())?;
                write_operand(f, r, r.precedence() <= p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Result<f64, ExprError> {
        parse(s)?.eval(1080.0, 1920.0, 800.0, 200.0)
    }

    #[test]
    fn seed_examples() {
        assert_eq!(ev("(main_w-overlay_w)/2"), Ok(140.0));
        assert_eq!(ev("(main_h-overlay_h)/2"), Ok(860.0));
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(ev("1+2*3"), Ok(7.0));
        assert_eq!(ev("(1+2)*3"), Ok(9.0));
        assert_eq!(ev("10-4-3"), Ok(3.0));
        assert_eq!(ev("100/10/2"), Ok(5.0));
        assert_eq!(ev("-2*3"), Ok(-6.0));
        assert_eq!(ev("2*-3"), Ok(-6.0));
        assert_eq!(ev("--4"), Ok(4.0));
        assert_eq!(ev("1 - -1"), Ok(2.0));
        assert_eq!(ev(" main_w\t/ 4 "), Ok(270.0));
        assert_eq!(ev("0.5*main_h"), Ok(960.0));
    }

    #[test]
    fn error_kinds() {
        assert_eq!(parse(""), Err(ExprError::Empty));
        assert_eq!(parse("   "), Err(ExprError::Empty));
        assert_eq!(parse("t"), Err(ExprError::UnknownVariable("t".into())));
        assert_eq!(parse("if (1)"), Err(ExprError::FunctionCall("if".into())));
        assert_eq!(parse("1e309"), Err(ExprError::BadNumber("1e309".into())));
        assert_eq!(parse(".5"), Err(ExprError::UnexpectedChar('.', 0)));
        assert_eq!(parse("1."), Err(ExprError::BadNumber("1.".into())));
        assert_eq!(parse("(1"), Err(ExprError::UnexpectedEnd));
        assert_eq!(parse("1)"), Err(ExprError::UnexpectedToken("')'", 1)));
        assert_eq!(parse("1 2"), Err(ExprError::UnexpectedToken("number", 2)));
        assert_eq!(parse("é"), Err(ExprError::UnexpectedChar('é', 0)));
        assert_eq!(ev("1/0"), Err(ExprError::DivisionByZero));
    }

    #[test]
    fn limits_are_exact() {
        // Parentheses alone run into the token limit first (31 pairs = 63 tokens).
        let nested = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&nested(31)).is_ok());
        assert_eq!(parse(&nested(32)), Err(ExprError::TooManyTokens));
        // `-(` pairs: two levels per three tokens.
        let mixed = |n: usize| format!("{}1{}", "-(".repeat(n), ")".repeat(n));
        assert!(parse(&mixed(MAX_DEPTH / 2)).is_ok());
        assert_eq!(parse(&mixed(MAX_DEPTH / 2 + 1)), Err(ExprError::TooDeep));
        assert_eq!(parse("-(-(1))").unwrap().to_string(), "--1");
        let negs = |n: usize| format!("{}1", "-".repeat(n));
        assert!(parse(&negs(MAX_DEPTH)).is_ok());
        assert_eq!(parse(&negs(MAX_DEPTH + 1)), Err(ExprError::TooDeep));
        // 32 ones and 31 pluses = 63 tokens; one more pair is 65.
        let sum = |n: usize| vec!["1"; n].join("+");
        assert!(parse(&sum(32)).is_ok());
        assert_eq!(parse(&sum(33)), Err(ExprError::TooManyTokens));
        let padded = |n: usize| format!("{}1", " ".repeat(n - 1));
        assert!(parse(&padded(MAX_LEN)).is_ok());
        assert_eq!(parse(&padded(MAX_LEN + 1)), Err(ExprError::TooLong));
        assert!(parse(&"9".repeat(MAX_NUMBER_LEN)).is_ok());
        assert!(matches!(
            parse(&"9".repeat(MAX_NUMBER_LEN + 1)),
            Err(ExprError::BadNumber(_))
        ));
    }

    #[test]
    fn printing_uses_minimal_parentheses() {
        for (src, printed) in [
            ("(main_w-overlay_w)/2", "(main_w-overlay_w)/2"),
            ("((1))+(2*3)", "1+2*3"),
            ("1-(2-3)", "1-(2-3)"),
            ("(1-2)-3", "1-2-3"),
            ("8/(4/2)", "8/(4/2)"),
            ("-(1+2)", "-(1+2)"),
            ("-(-(3))", "--3"),
            ("1 - -1", "1--1"),
            ("007.50", "7.5"),
        ] {
            let e = parse(src).unwrap();
            assert_eq!(e.to_string(), printed, "{src}");
            assert_eq!(parse(printed).unwrap(), e, "{src}");
        }
    }

    #[test]
    fn errors_echo_little_of_the_input() {
        let long = format!("x{}", "a".repeat(200));
        let msg = parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 120, "{msg}");
    }
}
