//! The PTX lexer: text to tokens with line numbers.
//!
//! PTX's lexical grammar (ISA section 4, "Syntax") is small: identifiers may start with a
//! letter, `_`, `$` or `%` (registers) and directives with `.`; an instruction's opcode and
//! its modifiers are written as one dotted word (`ld.global.v4.f32`), which this lexer keeps
//! as one [`Tok::Word`] and the instruction parser splits. Comments are `//` to the end of
//! the line and `/* ... */`. Numbers are decimal, `0x` hex, `0b` binary, leading-zero octal,
//! optionally with a `U` suffix; floats are decimal (`1.5`, `1e-3`) or exact hex images
//! `0fXXXXXXXX` (f32) and `0dXXXXXXXXXXXXXXXX` (f64).

use super::error::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Identifiers, directives, registers, opcodes with modifiers: `ld.global.f32`, `%tid.x`,
    /// `.reg`, `$L__BB0_1`, `shared::cta` pieces.
    Word(String),
    /// An integer literal's value (two's complement bits; the sign is a separate `-`).
    Int(u64),
    /// A float literal: its f64 value and, for `0f`/`0d` images, the exact bits.
    Float(FloatLit),
    /// One punctuation character: `, ; : { } [ ] ( ) + - ! @ | < > =`.
    Punct(char),
    /// A string literal (only in `.file`/`.pragma`, which are skipped).
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FloatLit {
    Decimal(f64),
    F32Bits(u32),
    F64Bits(u64),
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
}

fn word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '%' || c == '.'
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '%' || c == '.'
}

/// Splits `text` into tokens. `file` names the file in errors.
pub fn lex(text: &str, file: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    let err = |line: u32, msg: String| ParseError { file: file.to_string(), line, message: msg };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let start = line;
            i += 2;
            loop {
                if i + 1 >= chars.len() {
                    return Err(err(start, "unterminated /* comment".into()));
                }
                if chars[i] == '*' && chars[i + 1] == '/' {
                    i += 2;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\n' {
                    return Err(err(line, "unterminated string".into()));
                }
                i += 1;
            }
            out.push(Token { tok: Tok::Str(chars[start..i].iter().collect()), line });
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+')
                        && matches!(chars[i - 1], 'e' | 'E')
                        && !is_hexish(&chars[start..i])))
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let tok = number(&s).ok_or_else(|| err(line, format!("bad number literal {s:?}")))?;
            out.push(Token { tok, line });
        } else if word_start(c) {
            let start = i;
            loop {
                while i < chars.len() && word_char(chars[i]) {
                    i += 1;
                }
                // `shared::cta`, `L2::cache_hint`: a `::` joins the pieces into one word.
                if i + 2 < chars.len()
                    && chars[i] == ':'
                    && chars[i + 1] == ':'
                    && word_char(chars[i + 2])
                {
                    i += 2;
                    continue;
                }
                break;
            }
            out.push(Token { tok: Tok::Word(chars[start..i].iter().collect()), line });
        } else if ",;:{}[]()+-!@|<>=".contains(c) {
            out.push(Token { tok: Tok::Punct(c), line });
            i += 1;
        } else {
            return Err(err(line, format!("unexpected character {c:?}")));
        }
    }
    Ok(out)
}

fn is_hexish(s: &[char]) -> bool {
    s.len() >= 2 && s[0] == '0' && matches!(s[1], 'x' | 'X' | 'f' | 'F' | 'd' | 'D')
}

/// Parses one numeric literal (ISA 4.5.1 "Integer constants", 4.5.2 "Floating-point constants").
pub fn number(s: &str) -> Option<Tok> {
    let body = s.strip_suffix('U').unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0f") {
        if h.len() == 8 {
            return u32::from_str_radix(h, 16).ok().map(|b| Tok::Float(FloatLit::F32Bits(b)));
        }
    }
    if let Some(h) = lower.strip_prefix("0d") {
        if h.len() == 16 {
            return u64::from_str_radix(h, 16).ok().map(|b| Tok::Float(FloatLit::F64Bits(b)));
        }
    }
    if let Some(h) = lower.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok().map(Tok::Int);
    }
    if let Some(b) = lower.strip_prefix("0b") {
        return u64::from_str_radix(b, 2).ok().map(Tok::Int);
    }
    if lower.contains('.') || lower.contains('e') {
        return lower.parse::<f64>().ok().map(|v| Tok::Float(FloatLit::Decimal(v)));
    }
    if lower.len() > 1 && lower.starts_with('0') {
        return u64::from_str_radix(&lower[1..], 8).ok().map(Tok::Int);
    }
    lower.parse::<u64>().ok().map(Tok::Int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_numbers_and_comments() {
        let t = lex(
            "ld.global.v4.f32 {%f1}, [%rd1+16]; // x\n/* y\n */ add.f32 %f1, 0f3F800000, \
            1.5;\nst.shared::cta.u32 [a], 0x10U;",
            "t.ptx",
        )
        .unwrap();
        assert_eq!(t[0].tok, Tok::Word("ld.global.v4.f32".into()));
        assert!(t.iter().any(|x| x.tok == Tok::Int(16)));
        let add = t.iter().position(|x| x.tok == Tok::Word("add.f32".into())).unwrap();
        assert_eq!(t[add].line, 3);
        assert!(t.iter().any(|x| x.tok == Tok::Float(FloatLit::F32Bits(0x3f80_0000))));
        assert!(t.iter().any(|x| x.tok == Tok::Float(FloatLit::Decimal(1.5))));
        assert!(t.iter().any(|x| x.tok == Tok::Word("st.shared::cta.u32".into())));
        assert!(
            t.iter().any(|x| x.tok == Tok::Int(16) && x.line == 4)
                || t.iter().any(|x| x.tok == Tok::Int(0x10))
        );
        assert!(lex("a /* never closed", "t.ptx").is_err());
        assert!(lex("mov.u32 %r1, 12abc;", "t.ptx").is_err());
    }
}
