//! Variable declarations (ISA 5.4 "Variables": `.align`, vectors, arrays, initializers),
//! and the module-scope ones: `.global` and `.const` variables with their initial bytes and
//! the addresses in them, and static `.shared` variables of the module's region.

use super::super::error::ParseError;
use super::super::inst::Base;
use super::super::lexer::{FloatLit, Tok};
use super::super::module::{Reloc, Target, Variable};
use super::super::operands::{float_imm, int_imm};
use super::super::types::{Space, Ty};
use super::Parser;

/// An initializer element (ISA 5.4.4 "Initializers").
#[derive(Clone, Debug)]
pub(super) enum InitItem {
    Int(u64, bool),
    Float(FloatLit, bool),
    /// `sym`, `generic(sym)`, `sym+N`, `0xff00(sym)`.
    Addr {
        name: String,
        addend: i64,
        mask: Option<u64>,
        line: u32,
    },
}

/// A variable declaration after its state space.
pub(super) struct VarDecl {
    pub name: String,
    pub ty: Ty,
    /// Elements per item (`.v2`, `.v4`).
    pub vec: u32,
    /// Items (`None` for `[]` without initializer).
    pub count: Option<u64>,
    pub align: u32,
    pub init: Option<Vec<InitItem>>,
}

impl VarDecl {
    pub fn bytes(&self) -> u64 {
        self.count.unwrap_or(0) * self.vec as u64 * self.ty.bytes() as u64
    }
}

impl Parser<'_> {
    /// `.align N`, `.v4`, `.TYPE`, `name`, `[N]...`, `= init`: a variable declaration after
    /// its state space, up to its `;`.
    pub(super) fn var_decl(&mut self) -> Result<VarDecl, ParseError> {
        let line = self.line();
        let (mut align, mut ty, mut vec) = (None, None, 1u32);
        loop {
            match self.peek_word() {
                Some(".align") => {
                    self.pos += 1;
                    align = Some(self.int()? as u32);
                }
                Some(".v2") | Some(".v4") | Some(".v8") => {
                    vec = self.word()?[2..].parse().unwrap_or(1);
                }
                Some(".attribute") => {
                    self.pos += 1;
                    self.skip_parens(line)?;
                }
                Some(".ptr") => self.pos += 1,
                Some(w) if w.starts_with('.') => {
                    let w = w.to_string();
                    self.pos += 1;
                    match Ty::parse(&w[1..]) {
                        Some(t) => ty = Some(t),
                        None => {
                            return Err(
                                self.err(line, &format!("unsupported variable attribute {w}"))
                            )
                        }
                    }
                }
                _ => break,
            }
        }
        let ty = ty.ok_or_else(|| self.err(line, "variable declaration without a type"))?;
        let name = self.word()?;
        let mut count = Some(1u64);
        let mut open_dim = false;
        while self.eat('[') {
            if self.eat(']') {
                open_dim = true;
                continue;
            }
            let n = self.int()?;
            self.expect(']')?;
            count = count.map(|c| c * n);
        }
        let init = if self.eat('=') { Some(self.initializer()?) } else { None };
        self.expect(';')?;
        if open_dim {
            // `a[] = {..}` takes its size from the initializer; `a[]` alone is unsized.
            count = match &init {
                Some(items) => {
                    let inner = count.unwrap_or(1) * vec as u64;
                    Some((items.len() as u64).div_ceil(inner.max(1)))
                }
                None => None,
            };
        }
        let align = align.unwrap_or(ty.bytes() * vec);
        if !align.is_power_of_two() {
            return Err(self.err(line, &format!(".align {align} is not a power of two")));
        }
        Ok(VarDecl { name, ty, vec, count, align, init })
    }

    /// An initializer: one element or a brace list (nested lists flattened).
    fn initializer(&mut self) -> Result<Vec<InitItem>, ParseError> {
        let mut items = vec![];
        if self.eat('{') {
            if self.eat('}') {
                return Ok(items);
            }
            loop {
                if self.peek() == Some(&Tok::Punct('{')) {
                    items.extend(self.initializer()?);
                } else {
                    items.push(self.init_item()?);
                }
                if self.eat('}') {
                    return Ok(items);
                }
                self.expect(',')?;
            }
        }
        items.push(self.init_item()?);
        Ok(items)
    }

    fn init_item(&mut self) -> Result<InitItem, ParseError> {
        let line = self.line();
        let neg = self.eat('-');
        let item = match self.next_tok() {
            Some(Tok::Int(v)) if self.eat('(') => {
                // `0xff00(sym)`: one byte of an address.
                let name = self.word()?;
                self.expect(')')?;
                InitItem::Addr { name, addend: 0, mask: Some(v), line }
            }
            Some(Tok::Int(v)) => InitItem::Int(v, neg),
            Some(Tok::Float(f)) => InitItem::Float(f, neg),
            Some(Tok::Word(w)) => {
                let name = if w == "generic" {
                    self.expect('(')?;
                    let n = self.word()?;
                    self.expect(')')?;
                    n
                } else {
                    w
                };
                let mut addend = 0i64;
                while self.peek() == Some(&Tok::Punct('+')) || self.peek() == Some(&Tok::Punct('-'))
                {
                    let minus = self.eat('-');
                    if !minus {
                        self.expect('+')?;
                    }
                    let v = self.int()? as i64;
                    addend += if minus { -v } else { v };
                }
                InitItem::Addr { name, addend, mask: None, line }
            }
            _ => return Err(self.err(line, "expected an initializer value")),
        };
        Ok(item)
    }

    /// A module-scope `.global` or `.const` variable.
    pub(super) fn module_var(
        &mut self,
        space: Space,
        is_extern: bool,
        line: u32,
    ) -> Result<(), ParseError> {
        let d = self.var_decl()?;
        let bytes = d.bytes();
        let mut init = vec![0u8; bytes as usize];
        let mut relocs = vec![];
        if let Some(items) = &d.init {
            let size = d.ty.bytes() as u64;
            if items.len() as u64 * size > bytes.max(size) {
                return Err(self.err(
                    line,
                    &format!(
                        "{}: {} initializer values for {} elements",
                        d.name,
                        items.len(),
                        bytes / size
                    ),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let off = i as u64 * size;
                let bits = match item {
                    InitItem::Int(v, neg) => int_imm(*v, *neg, d.ty),
                    InitItem::Float(f, neg) => {
                        float_imm(*f, *neg, d.ty).map_err(|e| self.err(line, &e))?
                    }
                    InitItem::Addr { name, addend, mask, line } => {
                        if size != 8 && size != 4 && mask.is_none() {
                            return Err(self.err(
                                *line,
                                &format!(
                                    "{}: an address in a .{} initializer",
                                    d.name,
                                    d.ty.name()
                                ),
                            ));
                        }
                        let target = match (self.module_syms.get(name), self.fn_ids.get(name)) {
                            (Some(Base::Var(v)), _) => Target::Var(*v),
                            (_, Some(&f)) => Target::Func(f),
                            _ => {
                                return Err(self.err(
                                    *line,
                                    &format!(
                                        "{name} in the initializer of {} is not a .global or \
                                         .const variable or a function declared before it",
                                        d.name
                                    ),
                                ))
                            }
                        };
                        let mask = mask.unwrap_or(u64::MAX);
                        let shift = if mask == u64::MAX { 0 } else { mask.trailing_zeros() };
                        relocs.push(Reloc {
                            offset: off,
                            size: size as u8,
                            target,
                            addend: *addend,
                            mask,
                            shift,
                        });
                        0
                    }
                };
                init[off as usize..(off + size) as usize]
                    .copy_from_slice(&bits.to_le_bytes()[..size as usize]);
            }
        }
        if let Some(Base::Var(i)) = self.module_syms.get(&d.name).copied() {
            // A definition after an `.extern` declaration (or a second `.extern`).
            let v = &mut self.variables[i as usize];
            if !v.is_extern && !is_extern {
                return Err(self.err(line, &format!("variable {} defined twice", d.name)));
            }
            if !is_extern {
                *v = Variable {
                    name: d.name,
                    space,
                    ty: d.ty,
                    bytes,
                    align: d.align,
                    is_extern: false,
                    line,
                    init,
                    relocs,
                };
            }
            return Ok(());
        }
        if self.module_syms.contains_key(&d.name) {
            return Err(self.err(line, &format!("{} declared twice", d.name)));
        }
        let i = self.variables.len() as u32;
        self.module_syms.insert(d.name.clone(), Base::Var(i));
        self.variables.push(Variable {
            name: d.name,
            space,
            ty: d.ty,
            bytes,
            align: d.align,
            is_extern,
            line,
            init,
            relocs,
        });
        Ok(())
    }

    /// A static `.shared` variable in the module's region (module scope or a `.func` body):
    /// above every entry's variables so far, so none overlaps.
    pub(super) fn module_shared(&mut self, d: &VarDecl) -> u32 {
        let off = self.shared_top.next_multiple_of(d.align);
        self.shared_module_end = off + d.bytes() as u32;
        self.shared_top = self.shared_module_end;
        off
    }

    pub(super) fn module_shared_decl(&mut self, is_extern: bool) -> Result<(), ParseError> {
        let line = self.line();
        let d = self.var_decl()?;
        if d.init.is_some() {
            return Err(self.err(line, ".shared variables cannot be initialised"));
        }
        match (is_extern, d.count) {
            (true, None) => {
                self.module_syms.insert(d.name.clone(), Base::DynShared);
                self.dyn_align = self.dyn_align.max(d.align);
            }
            (_, Some(_)) => {
                let off = self.module_shared(&d);
                self.module_syms.insert(d.name, Base::Shared(off));
            }
            (false, None) => {
                return Err(self.err(
                    line,
                    "a .shared array without size must be .extern (dynamic shared memory)",
                ))
            }
        }
        Ok(())
    }
}
