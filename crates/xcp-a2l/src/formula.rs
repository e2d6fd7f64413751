//! FORM conversions: a small expression language over the raw value `X1`.
//!
//! The evaluator is our own. It parses once (at load) into a tree and evaluates that tree.
//! Supported: decimal and hexadecimal numbers, the variables `X1` … `X9` (and `X`, which is
//! `X1`), `sysc(NAME)` for MOD_PAR SYSTEM_CONSTANTs, parentheses, the unary operators `-`,
//! `+`, `!`, `~`, the binary operators `*`, `/`, `%`, `+`, `-`, `<<`, `>>`, `<`, `<=`, `>`,
//! `>=`, `==`, `!=`, `&`, `|`, `&&`, `||`, and the functions `abs`, `acos`, `asin`, `atan`,
//! `ceil`, `cos`, `cosh`, `exp`, `floor`, `log` (natural), `log10`, `pow`, `sin`, `sinh`,
//! `sqrt`, `tan`, `tanh`, with C precedence.
//! The one operator whose meaning depends on the file's ASAP2 version is `^`: before 1.70 it
//! is the power operator (right-associative, above unary minus, so `-2^2` is -4); from 1.70
//! on it is bitwise XOR as in C, and `pow(x, y)` is the power. Bitwise operators work on
//! the integer part of their operands.

use std::collections::HashMap;
use std::fmt;

/// Which operator set a formula uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// ASAP2 before 1.70: `^` is the power operator.
    Legacy,
    /// ASAP2 1.70 and later: `^` is bitwise XOR.
    V17,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    text: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Num(f64),
    Var(usize),
    Unary(char, Box<Self>),
    Binary(Op, Box<Self>, Box<Self>),
    Call(Func, Vec<Self>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Or,
    And,
    BitOr,
    BitXor,
    BitAnd,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Abs,
    Acos,
    Asin,
    Atan,
    Ceil,
    Cos,
    Cosh,
    Exp,
    Floor,
    Log,
    Log10,
    Pow,
    Sin,
    Sinh,
    Sqrt,
    Tan,
    Tanh,
}

impl Func {
    fn named(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "abs" => Self::Abs,
            "acos" => Self::Acos,
            "asin" => Self::Asin,
            "atan" => Self::Atan,
            "ceil" => Self::Ceil,
            "cos" => Self::Cos,
            "cosh" => Self::Cosh,
            "exp" => Self::Exp,
            "floor" => Self::Floor,
            "log" => Self::Log,
            "log10" => Self::Log10,
            "pow" => Self::Pow,
            "sin" => Self::Sin,
            "sinh" => Self::Sinh,
            "sqrt" => Self::Sqrt,
            "tan" => Self::Tan,
            "tanh" => Self::Tanh,
            _ => return None,
        })
    }

    fn arity(self) -> usize {
        if self == Self::Pow { 2 } else { 1 }
    }
}

/// Why a formula could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("formula \"{text}\": {reason}")]
pub struct FormulaError {
    /// The formula.
    pub text: String,
    /// What is wrong, with the character position where it applies.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

const OPS: [&str; 22] = [
    "||", "&&", "==", "!=", "<=", ">=", "<<", ">>", "|", "^", "&", "<", ">", "+", "-", "*", "/",
    "%", "!", "~", "(", ")",
];

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while let Some(&c) = b.get(i) {
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
                i += 2;
                while b.get(i).is_some_and(u8::is_ascii_hexdigit) {
                    i += 1;
                }
                let v = u64::from_str_radix(s.get(start + 2..i).unwrap_or(""), 16)
                    .map_err(|_| format!("bad hexadecimal number at {start}"))?;
                out.push((start, Tok::Num(v as f64)));
                continue;
            }
            while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
                i += 1;
            }
            if matches!(b.get(i), Some(b'e' | b'E'))
                && (b.get(i + 1).is_some_and(u8::is_ascii_digit)
                    || (matches!(b.get(i + 1), Some(b'+' | b'-'))
                        && b.get(i + 2).is_some_and(u8::is_ascii_digit)))
            {
                i += 2;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            let text = s.get(start..i).unwrap_or("");
            let v: f64 = text
                .parse()
                .map_err(|_| format!("bad number \"{text}\" at {start}"))?;
            out.push((start, Tok::Num(v)));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
            {
                i += 1;
            }
            out.push((start, Tok::Ident(s.get(start..i).unwrap_or("").to_owned())));
        } else if c == b',' {
            out.push((i, Tok::Comma));
            i += 1;
        } else {
            let rest = s.get(i..).unwrap_or("");
            let op = OPS
                .iter()
                .find(|o| rest.starts_with(**o))
                .ok_or_else(|| format!("unexpected character '{}' at {i}", char::from(c)))?;
            out.push((
                i,
                match *op {
                    "(" => Tok::LParen,
                    ")" => Tok::RParen,
                    o => Tok::Op(o),
                },
            ));
            i += op.len();
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    dialect: Dialect,
    constants: &'a HashMap<String, f64>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(usize::MAX, |(p, _)| *p)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn binary(&self, op: &str) -> Option<(Op, u8, bool)> {
        // (operator, precedence, right-associative)
        Some(match op {
            "||" => (Op::Or, 1, false),
            "&&" => (Op::And, 2, false),
            "|" => (Op::BitOr, 3, false),
            "^" if self.dialect == Dialect::V17 => (Op::BitXor, 4, false),
            "^" => (Op::Pow, 12, true),
            "&" => (Op::BitAnd, 5, false),
            "==" => (Op::Eq, 6, false),
            "!=" => (Op::Ne, 6, false),
            "<" => (Op::Lt, 7, false),
            "<=" => (Op::Le, 7, false),
            ">" => (Op::Gt, 7, false),
            ">=" => (Op::Ge, 7, false),
            "<<" => (Op::Shl, 8, false),
            ">>" => (Op::Shr, 8, false),
            "+" => (Op::Add, 9, false),
            "-" => (Op::Sub, 9, false),
            "*" => (Op::Mul, 10, false),
            "/" => (Op::Div, 10, false),
            "%" => (Op::Rem, 10, false),
            _ => return None,
        })
    }

    fn expr(&mut self, min: u8) -> Result<Node, String> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(o)) = self.peek() {
            let Some((op, prec, right)) = self.binary(o) else {
                break;
            };
            if prec < min {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(if right { prec } else { prec + 1 })?;
            lhs = Node::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if let Some(Tok::Op(o @ ("-" | "+" | "!" | "~"))) = self.peek() {
            let c = o.chars().next().unwrap_or('-');
            self.pos += 1;
            // Unary binds tighter than `*` but looser than the legacy power operator.
            let operand = self.expr(11)?;
            return Ok(Node::Unary(c, Box::new(operand)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, String> {
        let at = self.at();
        match self.next() {
            Some(Tok::Num(v)) => Ok(Node::Num(v)),
            Some(Tok::LParen) => {
                let e = self.expr(0)?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(format!("missing ')' for the '(' at {at}")),
                }
            }
            Some(Tok::Ident(name)) => {
                if let Some(n) = variable(&name) {
                    return Ok(Node::Var(n));
                }
                if !matches!(self.peek(), Some(Tok::LParen)) {
                    return Err(format!(
                        "unknown name \"{name}\" at {at} (variables are X1 … X9)"
                    ));
                }
                self.pos += 1;
                if name.eq_ignore_ascii_case("sysc") {
                    let Some(Tok::Ident(c)) = self.next() else {
                        return Err(format!("sysc at {at} needs a constant name"));
                    };
                    if self.next() != Some(Tok::RParen) {
                        return Err(format!("missing ')' after sysc({c}"));
                    }
                    let v = self
                        .constants
                        .get(&c)
                        .ok_or_else(|| format!("system constant \"{c}\" is not in MOD_PAR"))?;
                    return Ok(Node::Num(*v));
                }
                let f = Func::named(&name)
                    .ok_or_else(|| format!("unknown function \"{name}\" at {at}"))?;
                let mut args = Vec::new();
                if self.peek() != Some(&Tok::RParen) {
                    loop {
                        args.push(self.expr(0)?);
                        match self.next() {
                            Some(Tok::Comma) => {}
                            Some(Tok::RParen) => break,
                            _ => return Err(format!("missing ')' in the call of {name} at {at}")),
                        }
                    }
                } else {
                    self.pos += 1;
                }
                if args.len() != f.arity() {
                    return Err(format!(
                        "{name} takes {} argument(s), {} given at {at}",
                        f.arity(),
                        args.len()
                    ));
                }
                Ok(Node::Call(f, args))
            }
            Some(t) => Err(format!("unexpected {t:?} at {at}")),
            None => Err("unexpected end".to_owned()),
        }
    }
}

fn variable(name: &str) -> Option<usize> {
    let rest = name.strip_prefix(['X', 'x'])?;
    if rest.is_empty() {
        return Some(0);
    }
    let n: usize = rest.parse().ok()?;
    (1..=9).contains(&n).then(|| n - 1)
}

impl Formula {
    /// Parses `text` in the given dialect; `sysc(NAME)` takes its value from `constants`.
    ///
    /// # Errors
    ///
    /// A syntax error, an unknown function or variable, or an unknown system constant.
    pub fn parse(
        text: &str,
        dialect: Dialect,
        constants: &HashMap<String, f64>,
    ) -> Result<Self, FormulaError> {
        let err = |reason: String| FormulaError {
            text: text.to_owned(),
            reason,
        };
        let toks = tokenize(text).map_err(err)?;
        let mut p = Parser {
            toks,
            pos: 0,
            dialect,
            constants,
        };
        let root = p.expr(0).map_err(err)?;
        if p.pos < p.toks.len() {
            return Err(err(format!("unexpected text at {}", p.at())));
        }
        Ok(Self {
            text: text.to_owned(),
            root,
        })
    }

    /// The formula as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates with `X1` = `x` (and `X2` … unset, which is an error if used).
    ///
    /// # Errors
    ///
    /// The result is not a finite number (division by zero, log of a negative, …) or the
    /// formula uses a variable other than X1.
    pub fn eval(&self, x: f64) -> Result<f64, FormulaError> {
        let v = eval(&self.root, &[x]).map_err(|reason| FormulaError {
            text: self.text.clone(),
            reason,
        })?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(FormulaError {
                text: self.text.clone(),
                reason: format!("the result for X1 = {x} is not a finite number ({v})"),
            })
        }
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "bitwise operators act on the integer part, saturating"
)]
fn int(v: f64) -> i64 {
    v.trunc() as i64
}

fn truth(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn eval(n: &Node, x: &[f64]) -> Result<f64, String> {
    Ok(match n {
        Node::Num(v) => *v,
        Node::Var(i) => *x
            .get(*i)
            .ok_or_else(|| format!("X{} is not available (only X1 is)", i + 1))?,
        Node::Unary(op, a) => {
            let a = eval(a, x)?;
            match op {
                '-' => -a,
                '!' => truth(a == 0.0),
                '~' => !int(a) as f64,
                _ => a,
            }
        }
        Node::Binary(op, a, b) => {
            let (a, b) = (eval(a, x)?, eval(b, x)?);
            match op {
                Op::Or => truth(a != 0.0 || b != 0.0),
                Op::And => truth(a != 0.0 && b != 0.0),
                Op::BitOr => (int(a) | int(b)) as f64,
                Op::BitXor => (int(a) ^ int(b)) as f64,
                Op::BitAnd => (int(a) & int(b)) as f64,
                Op::Eq => truth(a == b),
                Op::Ne => truth(a != b),
                Op::Lt => truth(a < b),
                Op::Le => truth(a <= b),
                Op::Gt => truth(a > b),
                Op::Ge => truth(a >= b),
                Op::Shl => int(a)
                    .checked_shl(u32::try_from(int(b)).unwrap_or(64))
                    .unwrap_or(0) as f64,
                Op::Shr => int(a)
                    .checked_shr(u32::try_from(int(b)).unwrap_or(64))
                    .unwrap_or(0) as f64,
                Op::Add => a + b,
                Op::Sub => a - b,
                Op::Mul => a * b,
                Op::Div => a / b,
                Op::Rem => a % b,
                Op::Pow => a.powf(b),
            }
        }
        Node::Call(f, args) => {
            let a = eval(args.first().ok_or("missing argument")?, x)?;
            match f {
                Func::Abs => a.abs(),
                Func::Acos => a.acos(),
                Func::Asin => a.asin(),
                Func::Atan => a.atan(),
                Func::Ceil => a.ceil(),
                Func::Cos => a.cos(),
                Func::Cosh => a.cosh(),
                Func::Exp => a.exp(),
                Func::Floor => a.floor(),
                Func::Log => a.ln(),
                Func::Log10 => a.log10(),
                Func::Pow => a.powf(eval(args.get(1).ok_or("missing argument")?, x)?),
                Func::Sin => a.sin(),
                Func::Sinh => a.sinh(),
                Func::Sqrt => a.sqrt(),
                Func::Tan => a.tan(),
                Func::Tanh => a.tanh(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &str, d: Dialect, x: f64) -> f64 {
        Formula::parse(text, d, &HashMap::new())
            .expect("parses")
            .eval(x)
            .expect("evaluates")
    }

    #[test]
    fn hand_computed_values() {
        use Dialect::{Legacy, V17};
        assert_eq!(f("X1 * 0.5 + 3", V17, 10.0), 8.0);
        assert_eq!(f("(X1 - 32) / 1.8", V17, 212.0), 100.0);
        assert_eq!(f("X1 ^ 2", Legacy, 3.0), 9.0);
        assert_eq!(f("X1 ^ 2", V17, 3.0), 1.0); // 3 XOR 2
        assert_eq!(f("2 ^ 3 ^ 2", Legacy, 0.0), 512.0); // right-associative
        assert_eq!(f("-2 ^ 2", Legacy, 0.0), -4.0);
        assert_eq!(f("pow(X1, 3)", V17, 2.0), 8.0);
        assert_eq!(f("(X1 >> 4) & 0x0F", V17, f64::from(0xABu8)), 10.0);
        assert_eq!(f("X1 << 2 | 1", V17, 3.0), 13.0);
        assert_eq!(f("X1 > 10 && X1 < 20", V17, 15.0), 1.0);
        assert_eq!(f("!(X1 == 0) + ~0", V17, 5.0), 0.0);
        assert_eq!(f("sqrt(abs(X)) + floor(2.7) + ceil(0.2)", V17, -16.0), 7.0);
        assert_eq!(f("log(exp(2)) + log10(1000)", V17, 0.0), 5.0);
        assert_eq!(f("1.5e1 + .5 + 7 % 4", V17, 0.0), 18.5);
        assert!((f("sin(X1) * sin(X1) + cos(X1) * cos(X1)", V17, 0.7) - 1.0).abs() < 1e-12);
        let consts = HashMap::from([("gain".to_owned(), 4.0)]);
        let g = Formula::parse("X1 * sysc(gain)", V17, &consts).expect("parses");
        assert_eq!(g.eval(2.5), Ok(10.0));
    }

    #[test]
    fn errors_say_what_and_where() {
        let none = HashMap::new();
        for (text, needle) in [
            ("X1 +", "unexpected end"),
            ("(X1", "missing ')'"),
            ("foo(X1)", "unknown function"),
            ("Y * 2", "unknown name"),
            ("X1 $ 2", "unexpected character"),
            ("pow(X1)", "takes 2"),
            ("sysc(nope)", "not in MOD_PAR"),
            ("X1 2", "unexpected text"),
        ] {
            let e = Formula::parse(text, Dialect::V17, &none).expect_err(text);
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
        let div = Formula::parse("1 / X1", Dialect::V17, &none).expect("parses");
        assert!(div.eval(0.0).is_err());
        let two = Formula::parse("X1 + X2", Dialect::V17, &none).expect("parses");
        assert!(two.eval(1.0).unwrap_err().to_string().contains("X2"));
    }
}
