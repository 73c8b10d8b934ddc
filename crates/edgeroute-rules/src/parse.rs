//! The parser and type checker: text -> checked [`Expr`].
//!
//! A hand-written recursive-descent parser over bytes. The right-hand side of a comparison
//! is read according to the type of the left-hand side (an IP address, a CIDR, an integer
//! range...), as wirefilter does. Recursion is bounded by [`Limits::max_depth`], checked
//! before each nested level, so hostile nesting is an error and never a stack overflow.
//! After an error the parser skips to the next logical operator and goes on, so several bad
//! terms in a chain are all reported.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::Limits;
use crate::ast::{
    CmpOp, IndexKey, Literal, Loc, LogicOp, Node, Operand, OperandKind, Rhs, SetItem,
};
use crate::error::{ParseError, ParseErrors, Span};
use crate::expr::Expr;
use crate::functions::{self, Func};
use crate::scheme::Scheme;
use crate::types::Type;

const RESERVED: &[&str] = &[
    "and", "or", "xor", "not", "in", "eq", "ne", "lt", "le", "gt", "ge", "contains", "matches",
    "wildcard", "strict",
];

/// Whether `word` is an operator keyword (not usable as a field name).
pub(crate) fn is_reserved_word(word: &str) -> bool {
    RESERVED.contains(&word)
}

pub(crate) fn parse(scheme: &Scheme, text: &[u8]) -> Result<Expr, ParseErrors> {
    let limits = scheme.limits();
    if text.len() > limits.max_len {
        return Err(ParseErrors::from_vec(vec![ParseError::new(
            Span::new(limits.max_len, text.len()),
            format!(
                "expression is too long: {} bytes, the limit is {}",
                text.len(),
                limits.max_len
            ),
        )]));
    }
    if let Err(e) = std::str::from_utf8(text) {
        let at = e.valid_up_to();
        return Err(ParseErrors::from_vec(vec![ParseError::new(
            Span::new(at, at + 1),
            "expression is not valid UTF-8",
        )]));
    }
    let mut p = Parser {
        src: text,
        pos: 0,
        scheme,
        limits,
        errors: Vec::new(),
        depth: 0,
        fatal: false,
        regexes: 0,
        closed_at: None,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(ParseErrors::from_vec(vec![ParseError::new(
            Span::new(0, text.len()),
            "empty expression",
        )]));
    }
    let root = p.parse_level(LogicOp::Or);
    if !p.fatal {
        p.skip_ws();
        if !p.at_end() {
            let start = p.pos;
            let msg = if p.peek() == Some(b')') {
                "unbalanced parenthesis: `)` has no matching `(`".to_owned()
            } else {
                format!(
                    "expected a logical operator (and, or, xor), found `{}`",
                    p.token_text(start)
                )
            };
            p.error(Span::new(start, p.token_end(start)), msg);
        }
    }
    match root {
        Some(root) if p.errors.is_empty() => Ok(Expr::new(scheme.clone(), root)),
        _ => Err(ParseErrors::from_vec(p.errors)),
    }
}

struct Parser<'s> {
    src: &'s [u8],
    pos: usize,
    scheme: &'s Scheme,
    limits: &'s Limits,
    errors: Vec<ParseError>,
    depth: usize,
    /// Stop everything (nesting limit): no recovery is attempted.
    fatal: bool,
    regexes: usize,
    /// Position just after the last `)` that closed a call (error recovery).
    closed_at: Option<usize>,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

impl<'s> Parser<'s> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.src.get(self.pos + k).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn rest(&self) -> &'s [u8] {
        self.src.get(self.pos..).unwrap_or(&[])
    }

    fn text(&self, span: Span) -> &'s str {
        self.src
            .get(span.start..span.end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(ParseError::new(span, msg));
    }

    fn error_help(&mut self, span: Span, msg: impl Into<String>, help: impl Into<String>) {
        self.errors.push(ParseError::new(span, msg).with_help(help));
    }

    /// End of the token starting at `start` (a word, or one character), for messages.
    fn token_end(&self, start: usize) -> usize {
        let bytes = self.src.get(start..).unwrap_or(&[]);
        match bytes.first() {
            None => start,
            Some(&b) if is_ident_char(b) => {
                start + bytes.iter().take_while(|&&c| is_ident_char(c)).count()
            }
            Some(_) => {
                // One UTF-8 character.
                let len = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                start + len
            }
        }
    }

    fn token_text(&self, start: usize) -> &'s str {
        let end = self.token_end(start);
        if end == start {
            "end of input"
        } else {
            self.text(Span::new(start, end))
        }
    }

    /// The word (`[A-Za-z_]+`) at the cursor, without consuming it.
    fn peek_word(&self) -> &'s [u8] {
        let rest = self.rest();
        let n = rest
            .iter()
            .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
            .count();
        rest.get(..n).unwrap_or(&[])
    }

    /// Skips to the next logical operator, `)` or `,` at this nesting level (error recovery).
    fn recover(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            if self.at_string_literal() {
                self.skip_string();
                continue;
            }
            match b {
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                b',' if depth == 0 => return,
                b'&' | b'|' | b'^' if depth == 0 && self.peek_at(1) == Some(b) => return,
                _ if depth == 0
                    && is_ident_start(b)
                    && (self.pos == 0
                        || !self
                            .src
                            .get(self.pos - 1)
                            .copied()
                            .is_some_and(is_ident_char)) =>
                {
                    let w = self.peek_word();
                    if matches!(w.to_ascii_lowercase().as_slice(), b"and" | b"or" | b"xor")
                        && !self
                            .src
                            .get(self.pos + w.len())
                            .copied()
                            .is_some_and(is_ident_char)
                    {
                        return;
                    }
                    self.pos += w.len().max(1);
                    continue;
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Whether a string literal (`"..."` or a raw `r"..."`, `r#"..."#`) starts at the cursor.
    fn at_string_literal(&self) -> bool {
        match self.peek() {
            Some(b'"') => true,
            Some(b'r') => matches!(self.peek_at(1), Some(b'"' | b'#')),
            _ => false,
        }
    }

    /// Skips a string literal without reporting errors in it (recovery).
    fn skip_string(&mut self) {
        let errors = self.errors.len();
        let start = self.pos;
        let _ = self.string_literal();
        self.errors.truncate(errors);
        if self.pos == start {
            self.pos += 1;
        }
    }

    /// Skips past the `)` that closes the current call (recovery after a bad argument).
    fn skip_past_close(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            if self.at_string_literal() {
                self.skip_string();
                continue;
            }
            match b {
                b'(' | b'[' | b'{' => depth += 1,
                b')' if depth == 0 => {
                    self.pos += 1;
                    return;
                }
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn enter(&mut self, at: Span) -> bool {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            if !self.fatal {
                self.error(
                    at,
                    format!(
                        "expression is nested too deeply (the limit is {} levels)",
                        self.limits.max_depth
                    ),
                );
            }
            self.fatal = true;
            return false;
        }
        true
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Consumes the logical operator `op` if it is next (either notation).
    fn eat_logic(&mut self, op: LogicOp) -> bool {
        self.skip_ws();
        let (word, sym) = match op {
            LogicOp::And => ("and", b"&&"),
            LogicOp::Xor => ("xor", b"^^"),
            LogicOp::Or => ("or", b"||"),
        };
        if self.rest().starts_with(sym) {
            self.pos += 2;
            return true;
        }
        let w = self.peek_word();
        if w.eq_ignore_ascii_case(word.as_bytes())
            && !self
                .src
                .get(self.pos + w.len())
                .copied()
                .is_some_and(is_ident_char)
        {
            if w != word.as_bytes() {
                let span = Span::new(self.pos, self.pos + w.len());
                self.error_help(
                    span,
                    format!("English operators must be lowercase: use `{word}`"),
                    format!("write `{word}` or `{}`", String::from_utf8_lossy(sym)),
                );
            }
            self.pos += w.len();
            return true;
        }
        false
    }

    fn parse_level(&mut self, level: LogicOp) -> Option<Node> {
        let mut terms = Vec::new();
        let mut ok = true;
        loop {
            let term = match level {
                LogicOp::Or => self.parse_level(LogicOp::Xor),
                LogicOp::Xor => self.parse_level(LogicOp::And),
                LogicOp::And => {
                    let t = self.parse_unary();
                    if t.is_none() && !self.fatal {
                        self.recover();
                    }
                    t
                }
            };
            if self.fatal {
                return None;
            }
            match term {
                Some(t) => terms.push(t),
                None => ok = false,
            }
            if !self.eat_logic(level) {
                break;
            }
        }
        if !ok {
            return None;
        }
        if terms.len() == 1 {
            return terms.pop();
        }
        Some(Node::Logic { op: level, terms })
    }

    fn parse_unary(&mut self) -> Option<Node> {
        self.skip_ws();
        let start = self.pos;
        let w = self.peek_word();
        let is_not_word = w.eq_ignore_ascii_case(b"not")
            && !self
                .src
                .get(self.pos + 3)
                .copied()
                .is_some_and(is_ident_char);
        let is_bang = self.peek() == Some(b'!') && self.peek_at(1) != Some(b'=');
        if is_not_word || is_bang {
            let len = if is_bang { 1 } else { 3 };
            if is_not_word && w != b"not" {
                self.error_help(
                    Span::new(start, start + 3),
                    "English operators must be lowercase: use `not`",
                    "write `not` or `!`",
                );
            }
            self.pos += len;
            if !self.enter(Span::new(start, start + len)) {
                return None;
            }
            let inner = self.parse_unary();
            self.leave();
            let inner = inner?;
            return Some(Node::Not {
                inner: Box::new(inner),
                loc: Loc(Span::new(start, self.pos)),
            });
        }
        if self.peek() == Some(b'(') {
            self.pos += 1;
            if !self.enter(Span::new(start, start + 1)) {
                return None;
            }
            let inner = self.parse_level(LogicOp::Or);
            self.leave();
            if self.fatal {
                return None;
            }
            self.skip_ws();
            if self.peek() == Some(b')') {
                self.pos += 1;
            } else {
                let at = self.pos;
                if inner.is_some() {
                    let found = self.token_text(at).to_owned();
                    self.error_help(
                        Span::new(start, start + 1),
                        "unbalanced parenthesis: this `(` is never closed",
                        format!("expected `)` at byte {at}, found `{found}`"),
                    );
                }
                return None;
            }
            return Some(Node::Group {
                inner: Box::new(inner?),
                loc: Loc(Span::new(start, self.pos)),
            });
        }
        self.parse_comparison(false)
    }

    /// `operand [op rhs]`. With `in_reduce`, the operand may use `[*]` (inside `any`/`all`).
    fn parse_comparison(&mut self, in_reduce: bool) -> Option<Node> {
        self.skip_ws();
        let start = self.pos;
        let lhs = self.parse_operand(false)?;
        self.skip_ws();
        let op_start = self.pos;
        let Some((op, op_len, wrong_case)) = self.peek_cmp_op() else {
            // A bare condition.
            let boundary = match self.peek() {
                None | Some(b')' | b',') => true,
                Some(b'&' | b'|' | b'^') => true,
                Some(_) => {
                    let w = self.peek_word().to_ascii_lowercase();
                    matches!(w.as_slice(), b"and" | b"or" | b"xor")
                }
            };
            if !boundary {
                let found = self.token_text(op_start).to_owned();
                self.error(
                    Span::new(op_start, self.token_end(op_start)),
                    format!("expected a comparison operator, found `{found}`"),
                );
                return None;
            }
            let text = self.text(lhs.loc.0).to_owned();
            let ok = match (&lhs.ty, lhs.mapped) {
                (Type::Bool, false) => true,
                (Type::Bool, true) => in_reduce,
                (Type::Array(inner), false) => in_reduce && **inner == Type::Bool,
                _ => false,
            };
            if !ok {
                if lhs.mapped && lhs.ty == Type::Bool {
                    self.error(lhs.loc.0, "`[*]` can only be used inside a function's first argument, such as `any(...)`");
                } else {
                    self.error_help(
                        lhs.loc.0,
                        format!(
                            "`{text}` is {} {}, not a Boolean condition",
                            article(&lhs.ty),
                            lhs.ty
                        ),
                        "compare it with a value, for example `eq`, `contains` or `in {..}`",
                    );
                }
                return None;
            }
            return Some(Node::Bare { value: lhs });
        };
        let op_span = Span::new(op_start, op_start + op_len);
        if let Some(right) = wrong_case {
            self.error_help(
                op_span,
                format!("English operators must be lowercase: use `{right}`"),
                "Cloudflare accepts English operators in lowercase only",
            );
        }
        self.pos += op_len;
        if lhs.mapped && !in_reduce {
            self.error(
                lhs.loc.0,
                "`[*]` can only be used inside a function's first argument, such as `any(...)`",
            );
            return None;
        }
        if !operator_defined(op, &lhs.ty) {
            let mut msg = format!("operator `{}` is not defined on {}", op.word(), lhs.ty);
            if matches!(lhs.ty, Type::Array(_) | Type::Map(_)) {
                msg.push_str(&format!(" (`{}`)", self.text(lhs.loc.0)));
                self.error_help(
                    op_span,
                    msg,
                    "index it (`[0]`, `[\"key\"]`) or use `any(...[*] ...)`",
                );
            } else if lhs.ty == Type::Bool {
                self.error_help(
                    op_span,
                    msg,
                    "use the Boolean alone (`ssl`) or negated (`not ssl`)",
                );
            } else {
                self.error(op_span, msg);
            }
            return None;
        }
        let rhs = self.parse_rhs(op, &lhs)?;
        Some(Node::Compare {
            lhs,
            op,
            rhs,
            loc: Loc(Span::new(start, self.pos)),
        })
    }

    /// The comparison operator at the cursor: (operator, length, correct spelling if the
    /// case was wrong).
    fn peek_cmp_op(&self) -> Option<(CmpOp, usize, Option<&'static str>)> {
        let rest = self.rest();
        let sym = |s: &[u8]| rest.starts_with(s);
        if sym(b"==") {
            return Some((CmpOp::Eq, 2, None));
        }
        if sym(b"!=") {
            return Some((CmpOp::Ne, 2, None));
        }
        if sym(b"<=") {
            return Some((CmpOp::Le, 2, None));
        }
        if sym(b">=") {
            return Some((CmpOp::Ge, 2, None));
        }
        if sym(b"<") {
            return Some((CmpOp::Lt, 1, None));
        }
        if sym(b">") {
            return Some((CmpOp::Gt, 1, None));
        }
        if sym(b"~") {
            return Some((CmpOp::Matches, 1, None));
        }
        if sym(b"&") && !sym(b"&&") {
            return Some((CmpOp::BitAnd, 1, None));
        }
        let w = self.peek_word();
        if self
            .src
            .get(self.pos + w.len())
            .copied()
            .is_some_and(is_ident_char)
        {
            return None;
        }
        let lower = w.to_ascii_lowercase();
        let op = match lower.as_slice() {
            b"eq" => CmpOp::Eq,
            b"ne" => CmpOp::Ne,
            b"lt" => CmpOp::Lt,
            b"le" => CmpOp::Le,
            b"gt" => CmpOp::Gt,
            b"ge" => CmpOp::Ge,
            b"contains" => CmpOp::Contains,
            b"matches" => CmpOp::Matches,
            b"wildcard" => CmpOp::Wildcard,
            b"in" => CmpOp::In,
            b"strict" => {
                let after = rest.get(w.len()..).unwrap_or(&[]);
                let ws = after.iter().take_while(|b| b.is_ascii_whitespace()).count();
                let next = after.get(ws..).unwrap_or(&[]);
                let n = next.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                let word2 = next.get(..n).unwrap_or(&[]);
                if ws == 0 || !word2.eq_ignore_ascii_case(b"wildcard") {
                    return None;
                }
                let len = w.len() + ws + n;
                let wrong = (w != b"strict" || word2 != b"wildcard").then_some("strict wildcard");
                return Some((CmpOp::StrictWildcard, len, wrong));
            }
            _ => return None,
        };
        let wrong = (lower != w).then_some(op.word());
        Some((op, w.len(), wrong))
    }

    /// A field, function call or `rate(..)` with index suffixes; or, with `allow_literal`,
    /// a string or integer literal (function arguments).
    fn parse_operand(&mut self, allow_literal: bool) -> Option<Operand> {
        self.skip_ws();
        let start = self.pos;
        let Some(b) = self.peek() else {
            self.error(
                Span::new(start, start),
                "unexpected end of expression, expected a field",
            );
            return None;
        };
        if b.is_ascii_digit() || b == b'-' || self.at_string_literal() {
            let lit = if b.is_ascii_digit() || b == b'-' {
                self.int_literal().map(Literal::Int)
            } else {
                self.string_literal().map(Literal::Bytes)
            };
            let lit = lit?;
            let span = Span::new(start, self.pos);
            if !allow_literal {
                self.error_help(
                    span,
                    "expected a field or a function, found a literal",
                    "a comparison starts with a field, for example `http.host eq \"example.com\"`",
                );
                return None;
            }
            let ty = match lit {
                Literal::Int(_) => Type::Int,
                Literal::Bytes(_) => Type::Bytes,
            };
            return Some(Operand {
                kind: OperandKind::Literal(lit),
                ty,
                mapped: false,
                loc: Loc(span),
            });
        }
        if !is_ident_start(b) {
            let found = self.token_text(start).to_owned();
            let msg = if b == b')' {
                "unexpected `)`: expected a field".to_owned()
            } else {
                format!("expected a field, found `{found}`")
            };
            self.error(Span::new(start, self.token_end(start)), msg);
            return None;
        }
        let len = self
            .rest()
            .iter()
            .take_while(|&&c| is_ident_char(c))
            .count();
        let name_span = Span::new(start, start + len);
        let name = self.text(name_span);
        self.pos += len;
        let save = self.pos;
        self.skip_ws();
        let mut operand = if self.peek() == Some(b'(') {
            self.parse_call(name, name_span)?
        } else {
            self.pos = save;
            if is_reserved_word(&name.to_ascii_lowercase()) {
                self.error(
                    name_span,
                    format!("expected a field, found operator `{name}`"),
                );
                return None;
            }
            let Some(id) = self.scheme.field(name) else {
                let mut err = ParseError::new(name_span, format!("unknown field `{name}`"));
                if let Some(s) = suggest(name, self.scheme.fields().map(|(_, n, _)| n)) {
                    err = err.with_help(format!("did you mean `{s}`?"));
                }
                self.errors.push(err);
                return None;
            };
            Operand {
                kind: OperandKind::Field(id),
                ty: self.scheme.field_type(id).clone(),
                mapped: false,
                loc: Loc(name_span),
            }
        };
        // Index suffixes.
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.peek() != Some(b'[') {
                self.pos = save;
                break;
            }
            let open = self.pos;
            self.pos += 1;
            self.skip_ws();
            let key = match self.peek() {
                Some(b'*') => {
                    self.pos += 1;
                    IndexKey::Star
                }
                Some(b'"') | Some(b'r') => IndexKey::Key(self.string_literal()?),
                Some(c) if c.is_ascii_digit() => {
                    let at = self.pos;
                    let n = self.int_literal()?;
                    match u32::try_from(n) {
                        Ok(n) => IndexKey::Pos(n),
                        Err(_) => {
                            self.error(
                                Span::new(at, self.pos),
                                format!("array index `{n}` is out of range"),
                            );
                            return None;
                        }
                    }
                }
                _ => {
                    let found = self.token_text(self.pos).to_owned();
                    self.error(Span::new(self.pos, self.token_end(self.pos)), format!("expected a key (`\"name\"`), an index (`0`) or `*` inside `[..]`, found `{found}`"));
                    return None;
                }
            };
            self.skip_ws();
            if self.peek() != Some(b']') {
                self.error(Span::new(open, self.pos), "expected `]` to close the index");
                return None;
            }
            self.pos += 1;
            let span = Span::new(open, self.pos);
            let elem = match (&operand.ty, &key) {
                (Type::Map(t), IndexKey::Key(_)) | (Type::Array(t), IndexKey::Pos(_)) => {
                    (**t).clone()
                }
                (Type::Map(t) | Type::Array(t), IndexKey::Star) => {
                    if operand.mapped {
                        self.error(
                            span,
                            "`[*]` cannot be applied twice; index the elements instead",
                        );
                        return None;
                    }
                    (**t).clone()
                }
                (ty, _) => {
                    let what = match key {
                        IndexKey::Key(_) => "a key",
                        IndexKey::Pos(_) => "a position",
                        IndexKey::Star => "`[*]`",
                    };
                    self.error(span, format!("{ty} cannot be indexed with {what}"));
                    return None;
                }
            };
            let mapped = operand.mapped || key == IndexKey::Star;
            let loc = Loc(operand.loc.0.to(span));
            operand = Operand {
                kind: OperandKind::Index {
                    base: Box::new(operand),
                    key,
                },
                ty: elem,
                mapped,
                loc,
            };
        }
        Some(operand)
    }

    fn parse_call(&mut self, name: &str, name_span: Span) -> Option<Operand> {
        // The cursor is on `(`.
        let open = self.pos;
        self.pos += 1;
        if !self.enter(Span::new(name_span.start, open + 1)) {
            return None;
        }
        let result = self.parse_call_inner(name, name_span);
        self.leave();
        // Skip the rest of the call unless its `)` was the last thing consumed.
        if result.is_none() && !self.fatal && self.closed_at != Some(self.pos) {
            self.skip_past_close();
        }
        result
    }

    fn parse_call_inner(&mut self, name: &str, name_span: Span) -> Option<Operand> {
        if name == "rate" {
            return self.parse_rate(name_span);
        }
        if name == "any" || name == "all" {
            let inner = self.parse_comparison(true)?;
            self.close_call(name)?;
            let ok = match &inner {
                Node::Compare { lhs, .. } => lhs.mapped,
                Node::Bare { value } => {
                    value.mapped || matches!(&value.ty, Type::Array(t) if **t == Type::Bool)
                }
                _ => false,
            };
            let span = Span::new(name_span.start, self.pos);
            if !ok {
                self.error_help(
                    span,
                    format!("`{name}` needs an Array<Boolean>, such as a comparison over `[*]`"),
                    format!("for example `{name}(http.request.headers[\"accept\"][*] contains \"json\")`"),
                );
                return None;
            }
            return Some(Operand {
                kind: OperandKind::Reduce {
                    all: name == "all",
                    inner: Box::new(inner),
                },
                ty: Type::Bool,
                mapped: false,
                loc: Loc(span),
            });
        }
        let Some(func) = Func::by_name(name) else {
            let mut err = ParseError::new(name_span, format!("unknown function `{name}`"));
            if let Some(s) = suggest(name, Func::names()) {
                err = err.with_help(format!("did you mean `{s}`?"));
            }
            self.errors.push(err);
            return None;
        };
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() != Some(b')') {
            loop {
                let arg = self.parse_operand(true)?;
                args.push(arg);
                self.skip_ws();
                if self.peek() == Some(b',') {
                    self.pos += 1;
                    continue;
                }
                break;
            }
        }
        self.close_call(name)?;
        let span = Span::new(name_span.start, self.pos);
        let ret = match functions::check(func, &args, span, self.limits) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        if func == Func::RegexReplace {
            self.count_regex(span)?;
        }
        let mapped_arg = args.first().is_some_and(|a| a.mapped);
        let ty = if mapped_arg { ret.array_of() } else { ret };
        Some(Operand {
            kind: OperandKind::Call { func, args },
            ty,
            mapped: false,
            loc: Loc(span),
        })
    }

    fn close_call(&mut self, name: &str) -> Option<()> {
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            self.closed_at = Some(self.pos);
            return Some(());
        }
        let at = self.pos;
        let found = self.token_text(at).to_owned();
        self.error(
            Span::new(at, self.token_end(at)),
            format!("expected `)` or `,` in the arguments of `{name}`, found `{found}`"),
        );
        self.skip_past_close();
        self.closed_at = Some(self.pos);
        None
    }

    fn parse_rate(&mut self, name_span: Span) -> Option<Operand> {
        self.skip_ws();
        let start = self.pos;
        let digits = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let unit = self.peek_at(digits);
        let num: Option<u32> = self.text(Span::new(start, start + digits)).parse().ok();
        let mult = match unit {
            Some(b's') => Some(1),
            Some(b'm') => Some(60),
            Some(b'h') => Some(3600),
            _ => None,
        };
        let end = start + digits + usize::from(mult.is_some());
        let secs = match (num, mult) {
            (Some(n), Some(m)) if !self.src.get(end).copied().is_some_and(is_ident_char) => {
                n.checked_mul(m)
            }
            _ => None,
        };
        let Some(secs) = secs.filter(|s| (1..=86_400).contains(s)) else {
            let tok_end = start
                + self
                    .rest()
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric())
                    .count();
            self.error_help(
                Span::new(start, tok_end.max(start + 1)),
                format!(
                    "invalid rate period `{}`",
                    self.text(Span::new(start, tok_end))
                ),
                "write a period such as `10s`, `1m` or `1h` (at most 24h)",
            );
            return None;
        };
        self.pos = end;
        self.close_call("rate")?;
        Some(Operand {
            kind: OperandKind::Rate(secs),
            ty: Type::Int,
            mapped: false,
            loc: Loc(Span::new(name_span.start, self.pos)),
        })
    }

    fn count_regex(&mut self, span: Span) -> Option<()> {
        self.regexes += 1;
        if self.regexes > self.limits.max_regexes {
            self.error(
                span,
                format!(
                    "too many regular expressions (the limit is {})",
                    self.limits.max_regexes
                ),
            );
            return None;
        }
        Some(())
    }

    fn parse_rhs(&mut self, op: CmpOp, lhs: &Operand) -> Option<Rhs> {
        self.skip_ws();
        let start = self.pos;
        match (op, &lhs.ty) {
            (CmpOp::In, ty) => {
                if self.peek() == Some(b'$') {
                    return self.parse_list_ref(ty);
                }
                if self.peek() != Some(b'{') {
                    let found = self.token_text(start).to_owned();
                    self.error_help(
                        Span::new(start, self.token_end(start)),
                        format!("expected `{{` or a list (`$name`) after `in`, found `{found}`"),
                        "write a set such as `{\"a\" \"b\"}` or `{80 443}`",
                    );
                    return None;
                }
                self.parse_set(ty).map(Rhs::Set)
            }
            (CmpOp::Matches, _) => {
                let pattern = self.string_literal()?;
                let span = Span::new(start, self.pos);
                if let Err(msg) = functions::build_regex(&pattern, self.limits) {
                    self.error(span, msg);
                    return None;
                }
                self.count_regex(span)?;
                // INVARIANT: build_regex checked UTF-8.
                Some(Rhs::Regex(String::from_utf8(pattern).unwrap_or_default()))
            }
            (CmpOp::Wildcard | CmpOp::StrictWildcard, _) => {
                let pattern = self.string_literal()?;
                if let Err(msg) = crate::wildcard::validate(&pattern) {
                    self.error(Span::new(start, self.pos), msg);
                    return None;
                }
                Some(Rhs::Wildcard(pattern))
            }
            (_, Type::Int) => self.int_literal().map(Rhs::Int),
            (_, Type::Bytes) => self.string_literal().map(Rhs::Bytes),
            (_, Type::Ip) => {
                let (item, span) = self.ip_item(false)?;
                match item {
                    SetItem::Ip(ip) => Some(Rhs::Ip(ip)),
                    _ => {
                        self.error_help(
                            span,
                            format!("`{}` compares with one IP address, not a range", op.word()),
                            "use `in {..}` to match a CIDR or a range",
                        );
                        None
                    }
                }
            }
            _ => None,
        }
    }

    fn parse_list_ref(&mut self, ty: &Type) -> Option<Rhs> {
        let start = self.pos;
        self.pos += 1;
        let n = self
            .rest()
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
            .count();
        let name = self.text(Span::new(start + 1, start + 1 + n)).to_owned();
        self.pos += n;
        let span = Span::new(start, self.pos);
        if name.is_empty() {
            self.error(span, "expected a list name after `$`");
            return None;
        }
        let Some(list) = self.scheme.list(&name) else {
            self.error(span, format!("unknown list `${name}`"));
            return None;
        };
        let elem = list.element_type();
        if &elem != ty {
            self.error(
                span,
                format!(
                    "list `${name}` holds {elem} values, but the field is {} {ty}",
                    article(ty)
                ),
            );
            return None;
        }
        Some(Rhs::List(name))
    }

    fn parse_set(&mut self, ty: &Type) -> Option<Vec<SetItem>> {
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Some(items);
                }
                None => {
                    self.error(Span::new(open, self.pos), "unclosed set: expected `}`");
                    return None;
                }
                Some(_) => {}
            }
            let item = match ty {
                Type::Int => self.int_set_item()?,
                Type::Bytes => SetItem::Bytes(self.string_literal()?),
                Type::Ip => self.ip_item(true)?.0,
                other => {
                    self.error(
                        Span::new(open, open + 1),
                        format!("`in` is not defined on {other}"),
                    );
                    return None;
                }
            };
            items.push(item);
        }
    }

    fn int_set_item(&mut self) -> Option<SetItem> {
        let start = self.pos;
        let a = self.int_literal()?;
        if self.rest().starts_with(b"..") {
            self.pos += 2;
            let b = self.int_literal()?;
            if b < a {
                self.error(
                    Span::new(start, self.pos),
                    format!("empty range `{a}..{b}`: the end is below the start"),
                );
                return None;
            }
            return Some(SetItem::IntRange(a, b));
        }
        Some(SetItem::Int(a))
    }

    /// An IP address, CIDR, or (with `ranges`) `a..b` range.
    fn ip_item(&mut self, ranges: bool) -> Option<(SetItem, Span)> {
        let start = self.pos;
        let n = self
            .rest()
            .iter()
            .take_while(|&&b| b.is_ascii_hexdigit() || b == b':' || b == b'.' || b == b'/')
            .count();
        let tok = self.text(Span::new(start, start + n)).to_owned();
        self.pos += n;
        let span = Span::new(start, self.pos);
        if n == 0 {
            let found = self.token_text(start).to_owned();
            self.error(
                Span::new(start, self.token_end(start)),
                format!("expected an IP address, found `{found}`"),
            );
            return None;
        }
        let item = if let Some((a, b)) = tok.split_once("..") {
            match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) if ranges && a.is_ipv4() == b.is_ipv4() && a <= b => {
                    Some(SetItem::IpRange(a, b))
                }
                (Ok(a), Ok(b)) if ranges && a.is_ipv4() == b.is_ipv4() => {
                    self.error(
                        span,
                        format!("empty range `{a}..{b}`: the end is below the start"),
                    );
                    return None;
                }
                (Ok(_), Ok(_)) if ranges => {
                    self.error(span, format!("range `{tok}` mixes IPv4 and IPv6"));
                    return None;
                }
                _ => None,
            }
        } else if tok.contains('/') {
            tok.parse::<IpNet>().ok().map(SetItem::Cidr)
        } else {
            tok.parse::<IpAddr>().ok().map(SetItem::Ip)
        };
        let Some(item) = item else {
            self.error(
                span,
                format!("`{tok}` is not a valid IP address, CIDR or range"),
            );
            return None;
        };
        Some((item, span))
    }

    fn int_literal(&mut self) -> Option<i64> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let body_start = self.pos;
        let n = self
            .rest()
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
            .count();
        let body = self.text(Span::new(body_start, body_start + n)).to_owned();
        self.pos += n;
        let span = Span::new(start, self.pos);
        let parsed = if let Some(hex) = body.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
            body.parse::<u64>().ok()
        } else {
            None
        };
        let value = parsed.and_then(|v| {
            if neg {
                0i64.checked_sub_unsigned(v)
            } else {
                i64::try_from(v).ok()
            }
        });
        match value {
            Some(v) => Some(v),
            None if body.is_empty()
                || parsed.is_none() && !body.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let found = if body.is_empty() {
                    self.token_text(body_start).to_owned()
                } else {
                    body
                };
                self.error(
                    Span::new(start, self.pos.max(start + 1)),
                    format!("expected an integer, found `{found}`"),
                );
                None
            }
            None => {
                self.error(
                    span,
                    format!("integer `{}` does not fit in 64 bits", self.text(span)),
                );
                None
            }
        }
    }

    /// A quoted (`"..."`, escapes `\"` `\\` `\xHH`) or raw (`r"..."`, `r#"..."#`) string.
    fn string_literal(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let mut out = Vec::new();
                let mut bad_escape = None;
                loop {
                    match self.peek() {
                        None => {
                            self.error(
                                Span::new(start, self.pos),
                                "unterminated string: expected a closing `\"`",
                            );
                            return None;
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let at = self.pos;
                            match self.peek_at(1) {
                                Some(c @ (b'"' | b'\\')) => {
                                    out.push(c);
                                    self.pos += 2;
                                }
                                Some(b'x') => {
                                    let h = self.peek_at(2).and_then(hexval);
                                    let l = self.peek_at(3).and_then(hexval);
                                    if let (Some(h), Some(l)) = (h, l) {
                                        out.push(h * 16 + l);
                                        self.pos += 4;
                                    } else {
                                        bad_escape.get_or_insert(Span::new(
                                            at,
                                            (at + 4).min(self.src.len()),
                                        ));
                                        self.pos += 2;
                                    }
                                }
                                Some(_) => {
                                    let end = self.token_end(at + 1);
                                    bad_escape
                                        .get_or_insert(Span::new(at, end.min(at + 2).max(at + 1)));
                                    self.pos = end.min(at + 2).max(at + 1);
                                }
                                None => {
                                    self.pos += 1;
                                }
                            }
                        }
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
                if let Some(span) = bad_escape {
                    self.error_help(
                        span,
                        format!("invalid escape `{}` in a string", self.text(span)),
                        "in quoted strings only `\\\"`, `\\\\` and `\\xHH` are escapes; write `\\\\` for a backslash or use a raw string r\"...\"",
                    );
                    return None;
                }
                Some(out)
            }
            Some(b'r') if matches!(self.peek_at(1), Some(b'"' | b'#')) => {
                self.pos += 1;
                let hashes = self.rest().iter().take_while(|&&b| b == b'#').count();
                self.pos += hashes;
                if self.peek() != Some(b'"') {
                    self.error(
                        Span::new(start, self.pos),
                        "expected `\"` to start a raw string",
                    );
                    return None;
                }
                self.pos += 1;
                let body_start = self.pos;
                let mut closing = vec![b'"'];
                closing.extend(std::iter::repeat_n(b'#', hashes));
                let Some(at) = memchr::memmem::find(self.rest(), &closing) else {
                    self.error(
                        Span::new(start, self.src.len()),
                        format!(
                            "unterminated raw string: expected `{}`",
                            String::from_utf8_lossy(&closing)
                        ),
                    );
                    self.pos = self.src.len();
                    return None;
                };
                let body = self
                    .src
                    .get(body_start..body_start + at)
                    .unwrap_or(&[])
                    .to_vec();
                self.pos = body_start + at + closing.len();
                Some(body)
            }
            _ => {
                let found = self.token_text(start).to_owned();
                self.error(
                    Span::new(start, self.token_end(start)),
                    format!("expected a string, found `{found}`"),
                );
                None
            }
        }
    }
}

fn hexval(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn article(ty: &Type) -> &'static str {
    match ty {
        Type::Int | Type::Ip | Type::Array(_) => "an",
        _ => "a",
    }
}

/// Which operators each type supports (Cloudflare's operators page).
fn operator_defined(op: CmpOp, ty: &Type) -> bool {
    match ty {
        Type::Int => matches!(
            op,
            CmpOp::Eq
                | CmpOp::Ne
                | CmpOp::Lt
                | CmpOp::Le
                | CmpOp::Gt
                | CmpOp::Ge
                | CmpOp::In
                | CmpOp::BitAnd
        ),
        Type::Bytes => !matches!(op, CmpOp::BitAnd),
        Type::Ip => matches!(op, CmpOp::Eq | CmpOp::Ne | CmpOp::In),
        Type::Bool | Type::Array(_) | Type::Map(_) => false,
    }
}

/// The closest name within a small edit distance.
fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let max = (name.len() / 3).clamp(1, 4);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
