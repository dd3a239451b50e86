//! Reading one instruction: its dotted modifiers ([`Mods`]) and its operand list
//! ([`Operands`]). Each instruction family's `parse` function uses these two and nothing
//! else, so the syntax it accepts reads like the ISA's syntax line.

use super::inst::{Addr, Base, Reg, Src};
use super::lexer::{FloatLit, Tok, Token};
use super::types::{Sreg, Ty};

/// The names an operand can refer to, in the function being parsed.
pub trait Resolve {
    fn reg(&self, name: &str) -> Option<Reg>;
    /// The declared type of a register.
    fn reg_ty(&self, r: Reg) -> Ty;
    /// A variable (any state space) or a function, by name: what `[name]` or `mov %rd, name`
    /// refers to.
    fn symbol(&self, name: &str) -> Option<Base>;
    /// A function (`.entry` or `.func`, declared anywhere in the module), by name: its index
    /// in the module.
    fn function(&self, name: &str) -> Option<u32>;
    /// The id of a label (declared before or after its use).
    fn label(&mut self, name: &str) -> u32;
    /// A register for the sink `_` (written, never read).
    fn sink(&mut self) -> Reg;
    /// The function's hidden register for the carry flag `CC.CF` (extended-precision
    /// arithmetic).
    fn carry_flag(&mut self) -> Reg;
}

/// The modifiers of an opcode (`ld.global.nc.v4.f32` -> `global nc v4 f32`). Each is
/// consumed by the family parser; [`Mods::finish`] rejects any left over, so an unsupported
/// modifier is an error, never silently ignored.
pub struct Mods<'a> {
    pub base: &'a str,
    items: Vec<&'a str>,
    used: Vec<bool>,
}

impl<'a> Mods<'a> {
    pub fn new(opcode: &'a str) -> Mods<'a> {
        let mut parts = opcode.split('.');
        let base = parts.next().unwrap_or("");
        let items: Vec<&str> = parts.collect();
        let used = vec![false; items.len()];
        Mods { base, items, used }
    }

    /// Consumes the modifier `m` if present.
    pub fn has(&mut self, m: &str) -> bool {
        for (i, it) in self.items.iter().enumerate() {
            if !self.used[i] && *it == m {
                self.used[i] = true;
                return true;
            }
        }
        false
    }

    /// Is the modifier `m` there (not consumed yet)? Does not consume it.
    pub fn peek(&self, m: &str) -> bool {
        self.items.iter().zip(&self.used).any(|(it, u)| !*u && *it == m)
    }

    /// Consumes the first of `set` present.
    pub fn one_of(&mut self, set: &[&'a str]) -> Option<&'a str> {
        for (i, it) in self.items.iter().enumerate() {
            if !self.used[i] && set.contains(it) {
                self.used[i] = true;
                return Some(it);
            }
        }
        None
    }

    /// Consumes the first modifier that `f` accepts.
    pub fn find<T>(&mut self, f: impl Fn(&str) -> Option<T>) -> Option<T> {
        for (i, it) in self.items.iter().enumerate() {
            if !self.used[i] {
                if let Some(v) = f(it) {
                    self.used[i] = true;
                    return Some(v);
                }
            }
        }
        None
    }

    /// The first type modifier not yet consumed, without consuming it.
    pub fn peek_ty(&self) -> Option<Ty> {
        self.items.iter().zip(&self.used).filter(|(_, u)| !**u).find_map(|(m, _)| Ty::parse(m))
    }

    /// Consumes every type modifier, in order.
    pub fn tys(&mut self) -> Vec<Ty> {
        let mut out = vec![];
        while let Some(t) = self.find(Ty::parse) {
            out.push(t);
        }
        out
    }

    /// Exactly one type modifier.
    pub fn ty(&mut self) -> Result<Ty, String> {
        match self.tys().as_slice() {
            [t] => Ok(*t),
            [] => Err(format!("{}: missing type modifier", self.base)),
            more => Err(format!("{}: expected one type modifier, found {}", self.base, more.len())),
        }
    }

    /// Memory-ordering and cache-hint modifiers that change nothing in a sequential
    /// interpreter (ISA 8 "Memory Consistency Model"; cache operators 9.7.9.1): consumed.
    pub fn skip_hints(&mut self) {
        const HINTS: &[&str] = &[
            "weak",
            "relaxed",
            "acquire",
            "release",
            "acq_rel",
            "volatile",
            "sc",
            "cta",
            "gpu",
            "sys",
            "cluster",
            "ca",
            "cg",
            "cs",
            "lu",
            "cv",
            "wb",
            "wt",
            "L2::64B",
            "L2::128B",
            "L2::256B",
            "L1::evict_normal",
            "L1::evict_unchanged",
            "L1::evict_first",
            "L1::evict_last",
            "L1::no_allocate",
            "L2::evict_normal",
            "L2::evict_first",
            "L2::evict_last",
        ];
        while self.one_of(HINTS).is_some() {}
    }

    /// Errors when a modifier was not consumed.
    pub fn finish(&self) -> Result<(), String> {
        let left: Vec<String> = self
            .items
            .iter()
            .zip(&self.used)
            .filter(|(_, u)| !**u)
            .map(|(m, _)| format!(".{m}"))
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("unsupported modifier(s) {} on {}", left.join(" "), self.base))
        }
    }
}

/// A cursor over an instruction's operand tokens.
pub struct Operands<'a> {
    toks: &'a [Token],
    pos: usize,
    pub res: &'a mut dyn Resolve,
}

fn describe(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        None => "end of instruction".into(),
        Some(Tok::Word(w)) => format!("`{w}`"),
        Some(Tok::Int(v)) => format!("`{v}`"),
        Some(Tok::Float(_)) => "a float literal".into(),
        Some(Tok::Punct(c)) => format!("`{c}`"),
        Some(Tok::Str(s)) => format!("{s:?}"),
    }
}

impl<'a> Operands<'a> {
    pub fn new(toks: &'a [Token], res: &'a mut dyn Resolve) -> Operands<'a> {
        Operands { toks, pos: 0, res }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Consumes punctuation `c` if it comes next.
    pub fn eat(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}`, found {}", describe(self.toks.get(self.pos))))
        }
    }

    pub fn comma(&mut self) -> Result<(), String> {
        self.expect(',')
    }

    pub fn end(&self) -> Result<(), String> {
        if self.at_end() {
            Ok(())
        } else {
            Err(format!("unexpected {} after the last operand", describe(self.toks.get(self.pos))))
        }
    }

    /// A destination register (or `_`).
    pub fn dst(&mut self) -> Result<Reg, String> {
        let t = self.next();
        match t.map(|t| &t.tok) {
            Some(Tok::Word(w)) if w == "_" => Ok(self.res.sink()),
            Some(Tok::Word(w)) => {
                self.res.reg(w).ok_or_else(|| format!("`{w}` is not a declared register"))
            }
            _ => Err(format!("expected a register, found {}", describe(t))),
        }
    }

    /// A source operand of type `ty`: register, special register, literal or symbol.
    pub fn src(&mut self, ty: Ty) -> Result<Src, String> {
        let neg = self.eat('-');
        let t = self.next();
        match t.map(|t| &t.tok) {
            Some(Tok::Word(w)) if !neg => {
                if let Some(r) = self.res.reg(w) {
                    return Ok(Src::Reg(r));
                }
                if let Some(s) = Sreg::parse(w) {
                    return Ok(Src::Sreg(s));
                }
                if let Some(b) = self.res.symbol(w) {
                    return Ok(Src::Symbol(b));
                }
                if w == "WARP_SZ" {
                    return Ok(Src::Imm(32));
                }
                Err(format!("`{w}` is not a declared register, special register or variable"))
            }
            Some(Tok::Int(v)) => Ok(Src::Imm(int_imm(*v, neg, ty))),
            Some(Tok::Float(f)) => float_imm(*f, neg, ty).map(Src::Imm),
            _ => Err(format!("expected an operand, found {}", describe(t))),
        }
    }

    /// Is the next operand a register declared `.pred`?
    pub fn next_is_pred(&self) -> bool {
        let at = if self.is_punct('!') { self.pos + 1 } else { self.pos };
        match self.toks.get(at).map(|t| &t.tok) {
            Some(Tok::Word(w)) => self.res.reg(w).is_some_and(|r| self.res.reg_ty(r) == Ty::Pred),
            _ => false,
        }
    }

    /// A predicate operand, optionally negated: `%p` or `!%p`.
    pub fn pred(&mut self) -> Result<(Reg, bool), String> {
        let neg = self.eat('!');
        Ok((self.dst()?, neg))
    }

    /// A constant integer operand (sizes, counts).
    pub fn int(&mut self) -> Result<u64, String> {
        let neg = self.eat('-');
        let t = self.next();
        match t.map(|t| &t.tok) {
            Some(Tok::Int(v)) => Ok(if neg { v.wrapping_neg() } else { *v }),
            _ => Err(format!("expected an integer constant, found {}", describe(t))),
        }
    }

    /// An address `[reg]`, `[reg+imm]`, `[var]`, `[var+imm]`, `[imm]`.
    pub fn addr(&mut self) -> Result<Addr, String> {
        self.expect('[')?;
        let t = self.next();
        let mut a = match t.map(|t| &t.tok) {
            Some(Tok::Word(w)) => {
                if let Some(r) = self.res.reg(w) {
                    Addr { base: Base::Reg(r), offset: 0 }
                } else if let Some(b) = self.res.symbol(w) {
                    Addr { base: b, offset: 0 }
                } else {
                    return Err(format!(
                        "`{w}` in an address is not a declared register or variable"
                    ));
                }
            }
            Some(Tok::Int(v)) => Addr { base: Base::Absolute, offset: *v as i64 },
            _ => return Err(format!("expected an address, found {}", describe(t))),
        };
        if self.eat('+') {
            let neg = self.eat('-');
            let v = self.int()? as i64;
            a.offset += if neg { -v } else { v };
        } else if self.eat('-') {
            a.offset -= self.int()? as i64;
        }
        self.expect(']')?;
        Ok(a)
    }

    /// The next operand as a bare name (a function, a prototype, a label).
    pub fn word(&mut self) -> Result<&'a str, String> {
        let t = self.next();
        match t.map(|t| &t.tok) {
            Some(Tok::Word(w)) => Ok(w.as_str()),
            _ => Err(format!("expected a name, found {}", describe(t))),
        }
    }

    /// A parenthesised list of sources `(a, b, ...)` (call arguments and return values);
    /// `()` is empty.
    pub fn paren_list(&mut self, ty: Ty) -> Result<Vec<Src>, String> {
        self.expect('(')?;
        let mut v = vec![];
        if self.eat(')') {
            return Ok(v);
        }
        loop {
            v.push(self.src(ty)?);
            if !self.eat(',') {
                break;
            }
        }
        self.expect(')')?;
        Ok(v)
    }

    /// A label (branch target).
    pub fn label(&mut self) -> Result<u32, String> {
        let t = self.next();
        match t.map(|t| &t.tok) {
            Some(Tok::Word(w)) => Ok(self.res.label(w)),
            _ => Err(format!("expected a label, found {}", describe(t))),
        }
    }

    /// The number of entries in the brace list at the cursor (0 when none is there).
    pub fn braced_len(&self) -> usize {
        if !self.is_punct('{') {
            return 0;
        }
        let mut n = 1;
        for t in &self.toks[self.pos + 1..] {
            match t.tok {
                Tok::Punct('}') => return n,
                Tok::Punct(',') => n += 1,
                _ => {}
            }
        }
        n
    }

    /// A brace list of destination registers `{%a, %b, ...}` of exactly `n` entries.
    pub fn dst_vec(&mut self, n: usize) -> Result<Vec<Reg>, String> {
        self.expect('{')?;
        let mut v = vec![];
        loop {
            v.push(self.dst()?);
            if !self.eat(',') {
                break;
            }
        }
        self.expect('}')?;
        if v.len() != n {
            return Err(format!("expected {n} registers in braces, found {}", v.len()));
        }
        Ok(v)
    }

    /// A brace list of sources of exactly `n` entries.
    pub fn src_vec(&mut self, n: usize, ty: Ty) -> Result<Vec<Src>, String> {
        self.expect('{')?;
        let mut v = vec![];
        loop {
            v.push(self.src(ty)?);
            if !self.eat(',') {
                break;
            }
        }
        self.expect('}')?;
        if v.len() != n {
            return Err(format!("expected {n} operands in braces, found {}", v.len()));
        }
        Ok(v)
    }
}

/// An integer literal as the bits of `ty` (a float type takes the integer's value).
pub fn int_imm(v: u64, neg: bool, ty: Ty) -> u64 {
    let v = if neg { v.wrapping_neg() } else { v };
    match ty {
        Ty::F32 => ((if neg { v as i64 as f64 } else { v as f64 }) as f32).to_bits() as u64,
        Ty::F64 => (if neg { v as i64 as f64 } else { v as f64 }).to_bits(),
        _ => v & ty.mask(),
    }
}

/// A float literal as the bits of `ty`.
pub fn float_imm(f: FloatLit, neg: bool, ty: Ty) -> Result<u64, String> {
    let sign32 = if neg { 0x8000_0000u64 } else { 0 };
    let sign64 = if neg { 1u64 << 63 } else { 0 };
    match (f, ty) {
        (FloatLit::F32Bits(b), Ty::F32 | Ty::B32 | Ty::U32 | Ty::S32) => Ok(b as u64 ^ sign32),
        (FloatLit::F32Bits(b), Ty::F64) => Ok(((f32::from_bits(b) as f64).to_bits()) ^ sign64),
        (FloatLit::F64Bits(b), Ty::F64 | Ty::B64 | Ty::U64 | Ty::S64) => Ok(b ^ sign64),
        (FloatLit::F64Bits(b), Ty::F32) => {
            Ok(((f64::from_bits(b) as f32).to_bits() as u64) ^ sign32)
        }
        (FloatLit::Decimal(v), Ty::F32) => Ok((if neg { -v } else { v } as f32).to_bits() as u64),
        (FloatLit::Decimal(v), Ty::F64) => Ok((if neg { -v } else { v }).to_bits()),
        (_, t) => Err(format!("a float literal where a .{} operand is expected", t.name())),
    }
}
