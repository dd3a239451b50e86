//! The PTX parser: module directives, function headers, declarations and statements
//! (ISA 4 "Syntax", 5 "State Spaces, Types, and Variables", 11 "Directives").
//!
//! Instructions are handed to their family's `parse` in `ops/`, which decodes the modifiers
//! and operands into that family's compact form. Anything not understood is an error naming
//! the line, never skipped.

use std::collections::HashMap;

use super::error::ParseError;
use super::inst::{Base, Guard, Inst, Op, Reg};
use super::lexer::{lex, FloatLit, Tok, Token};
use super::module::{Function, Module, Param};
use super::operands::{Mods, Operands, Resolve};
use super::ops;
use super::types::Ty;

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    file: &'a str,
    lines: Vec<&'a str>,
    /// Module-scope `.shared` variables: name -> offset.
    module_shared: HashMap<String, u32>,
    module_shared_bytes: u32,
    /// Module-scope `.extern .shared` arrays (all start at the dynamic shared base).
    module_dyn: Vec<String>,
    module_dyn_align: u32,
}

/// The names visible while parsing one function body.
struct FnNames {
    scopes: Vec<HashMap<String, Reg>>,
    symbols: HashMap<String, Base>,
    labels: HashMap<String, u32>,
    label_pc: Vec<Option<u32>>,
    label_names: Vec<String>,
    reg_names: Vec<String>,
    reg_tys: Vec<Ty>,
    sink: Option<Reg>,
}

impl FnNames {
    fn new_reg(&mut self, name: &str, ty: Ty) -> Reg {
        let r = self.reg_names.len() as Reg;
        self.reg_names.push(name.to_string());
        self.reg_tys.push(ty);
        r
    }
}

impl Resolve for FnNames {
    fn reg(&self, name: &str) -> Option<Reg> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }
    fn reg_ty(&self, r: Reg) -> Ty {
        self.reg_tys[r as usize]
    }
    fn symbol(&self, name: &str) -> Option<Base> {
        self.symbols.get(name).copied()
    }
    fn label(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.labels.get(name) {
            return id;
        }
        let id = self.label_pc.len() as u32;
        self.labels.insert(name.to_string(), id);
        self.label_pc.push(None);
        self.label_names.push(name.to_string());
        id
    }
    fn sink(&mut self) -> Reg {
        match self.sink {
            Some(r) => r,
            None => {
                let r = self.new_reg("_", Ty::B64);
                self.sink = Some(r);
                r
            }
        }
    }
}

pub fn parse_module(text: &str, file: &str) -> Result<Module, ParseError> {
    let toks = lex(text, file)?;
    let mut p = Parser {
        toks,
        pos: 0,
        file,
        lines: text.lines().collect(),
        module_shared: HashMap::new(),
        module_shared_bytes: 0,
        module_dyn: vec![],
        module_dyn_align: 1,
    };
    let mut m = Module {
        file: file.to_string(),
        version: String::new(),
        target: String::new(),
        functions: vec![],
    };
    while p.pos < p.toks.len() {
        let line = p.line();
        let w = p.word()?;
        match w.as_str() {
            ".version" => {
                m.version = match p.next_tok() {
                    Some(Tok::Float(FloatLit::Decimal(v))) => format!("{v}"),
                    Some(Tok::Int(v)) => format!("{v}"),
                    _ => return Err(p.err(line, "expected a version number after .version")),
                }
            }
            ".target" => {
                let mut t = vec![p.word()?];
                while p.eat(',') {
                    t.push(p.word()?);
                }
                m.target = t.join(",");
            }
            ".address_size" => match p.next_tok() {
                Some(Tok::Int(64)) => {}
                _ => return Err(p.err(line, ".address_size: only 64-bit addressing is supported")),
            },
            ".visible" | ".weak" | ".common" => {}
            ".extern" => {
                if p.peek_word() == Some(".shared") {
                    p.pos += 1;
                    p.module_shared_decl(true)?;
                }
            }
            ".entry" | ".func" => {
                if let Some(f) = p.function(w == ".entry", line)? {
                    if m.functions.iter().any(|g| g.name == f.name) {
                        return Err(p.err(line, &format!("function {} defined twice", f.name)));
                    }
                    m.functions.push(f);
                }
            }
            ".shared" => p.module_shared_decl(false)?,
            ".file" | ".loc" => p.skip_line(line),
            ".section" => p.skip_section()?,
            ".global" | ".const" => {
                return Err(p.err(
                    line,
                    &format!("module-scope {w} variables are not supported by the interpreter"),
                ))
            }
            other => return Err(p.err(line, &format!("unexpected `{other}` at module scope"))),
        }
    }
    Ok(m)
}

impl<'a> Parser<'a> {
    fn err(&self, line: u32, msg: &str) -> ParseError {
        ParseError { file: self.file.to_string(), line, message: msg.to_string() }
    }

    fn line(&self) -> u32 {
        self.toks.get(self.pos).or(self.toks.last()).map(|t| t.line).unwrap_or(1)
    }

    fn next_tok(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        let line = self.line();
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(line, &format!("expected `{c}`")))
        }
    }

    fn word(&mut self) -> Result<String, ParseError> {
        let line = self.line();
        match self.next_tok() {
            Some(Tok::Word(w)) => Ok(w),
            Some(t) => Err(self.err(line, &format!("expected a word, found {t:?}"))),
            None => Err(self.err(line, "unexpected end of file")),
        }
    }

    fn int(&mut self) -> Result<u64, ParseError> {
        let line = self.line();
        match self.next_tok() {
            Some(Tok::Int(v)) => Ok(v),
            _ => Err(self.err(line, "expected an integer")),
        }
    }

    fn skip_line(&mut self, line: u32) {
        while self.pos < self.toks.len() && self.toks[self.pos].line == line {
            self.pos += 1;
        }
    }

    fn skip_section(&mut self) -> Result<(), ParseError> {
        let line = self.line();
        while !self.eat('{') {
            if self.next_tok().is_none() {
                return Err(self.err(line, "unterminated .section"));
            }
        }
        let mut depth = 1;
        while depth > 0 {
            match self.next_tok() {
                Some(Tok::Punct('{')) => depth += 1,
                Some(Tok::Punct('}')) => depth -= 1,
                Some(_) => {}
                None => return Err(self.err(line, "unterminated .section")),
            }
        }
        Ok(())
    }

    /// `.align N`, `.TYPE`, `name`, `[N]...`: a variable declaration after its state space.
    /// Returns (name, element type, total elements (None for `[]`), align).
    fn var_decl(&mut self) -> Result<(String, Ty, Option<u64>, u32), ParseError> {
        let line = self.line();
        let mut align = None;
        let mut ty = None;
        loop {
            match self.peek_word() {
                Some(".align") => {
                    self.pos += 1;
                    align = Some(self.int()? as u32);
                }
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
        while self.eat('[') {
            if self.eat(']') {
                count = None;
                continue;
            }
            let n = self.int()?;
            self.expect(']')?;
            count = count.map(|c| c * n);
        }
        if self.peek() == Some(&Tok::Punct('=')) {
            return Err(self.err(line, "initialised variables are not supported"));
        }
        self.expect(';')?;
        let align = align.unwrap_or(ty.bytes());
        if !align.is_power_of_two() {
            return Err(self.err(line, &format!(".align {align} is not a power of two")));
        }
        Ok((name, ty, count, align))
    }

    fn module_shared_decl(&mut self, is_extern: bool) -> Result<(), ParseError> {
        let line = self.line();
        let (name, ty, count, align) = self.var_decl()?;
        match (is_extern, count) {
            (true, None) => {
                self.module_dyn.push(name);
                self.module_dyn_align = self.module_dyn_align.max(align);
            }
            (false, Some(n)) => {
                let off = self.module_shared_bytes.next_multiple_of(align);
                self.module_shared.insert(name, off);
                self.module_shared_bytes = off + (n * ty.bytes() as u64) as u32;
            }
            _ => {
                return Err(self.err(
                    line,
                    "a .shared array without size must be .extern (dynamic shared memory)",
                ))
            }
        }
        Ok(())
    }

    /// `( .param .u64 .ptr .global .align 8 name, ... )`
    fn params(&mut self) -> Result<(Vec<Param>, u32), ParseError> {
        let mut params = vec![];
        let mut offset = 0u32;
        self.expect('(')?;
        if self.eat(')') {
            return Ok((params, 0));
        }
        loop {
            let line = self.line();
            if self.word()? != ".param" {
                return Err(self.err(line, "expected .param"));
            }
            let (mut ty, mut align, mut is_ptr) = (None, None, false);
            let name = loop {
                let w = self.word()?;
                match w.as_str() {
                    ".ptr" => is_ptr = true,
                    ".global" | ".shared" | ".const" | ".local" => {}
                    ".align" => align = Some(self.int()? as u32),
                    _ if w.starts_with('.') => {
                        ty = Some(Ty::parse(&w[1..]).ok_or_else(|| {
                            self.err(line, &format!("unsupported parameter attribute {w}"))
                        })?)
                    }
                    _ => break w,
                }
            };
            let ty = ty.ok_or_else(|| self.err(line, &format!("parameter {name} has no type")))?;
            let mut array = None;
            if self.eat('[') {
                array = Some(self.int()? as u32);
                self.expect(']')?;
            }
            let align = align.unwrap_or(ty.bytes()).max(1);
            offset = offset.next_multiple_of(align);
            let p = Param { name, ty, array, offset, is_ptr };
            offset += p.bytes();
            params.push(p);
            if self.eat(')') {
                return Ok((params, offset));
            }
            self.expect(',')?;
        }
    }

    fn dims(&mut self) -> Result<[u32; 3], ParseError> {
        let mut d = [1u32; 3];
        d[0] = self.int()? as u32;
        for v in d.iter_mut().skip(1) {
            if !self.eat(',') {
                break;
            }
            *v = self.int()? as u32;
        }
        Ok(d)
    }

    fn function(&mut self, is_entry: bool, line: u32) -> Result<Option<Function>, ParseError> {
        if !is_entry && self.peek() == Some(&Tok::Punct('(')) {
            let (ret, _) = self.params()?;
            if !ret.is_empty() {
                return Err(self.err(
                    line,
                    ".func with a return value: calls are not supported by the interpreter",
                ));
            }
        }
        let name = self.word()?;
        let (params, param_bytes) =
            if self.peek() == Some(&Tok::Punct('(')) { self.params()? } else { (vec![], 0) };
        let (mut reqntid, mut maxntid, mut minnctapersm) = (None, None, None);
        loop {
            let l = self.line();
            match self.peek() {
                Some(Tok::Punct(';')) => {
                    self.pos += 1;
                    return Ok(None);
                }
                Some(Tok::Punct('{')) => {
                    self.pos += 1;
                    break;
                }
                Some(Tok::Word(_)) => {
                    let w = self.word()?;
                    match w.as_str() {
                        ".reqntid" => reqntid = Some(self.dims()?),
                        ".maxntid" => maxntid = Some(self.dims()?),
                        ".minnctapersm" => minnctapersm = Some(self.int()? as u32),
                        ".maxnreg" | ".maxclusterrank" => {
                            self.int()?;
                        }
                        ".reqnctapercluster" | ".explicitcluster" => {
                            if w == ".reqnctapercluster" {
                                self.dims()?;
                            }
                        }
                        ".noreturn" => {}
                        ".pragma" => {
                            while !self.eat(';') {
                                self.next_tok();
                            }
                        }
                        other => {
                            return Err(self
                                .err(l, &format!("unexpected `{other}` in the header of {name}")))
                        }
                    }
                }
                _ => return Err(self.err(l, &format!("expected the body of {name}"))),
            }
        }
        let mut names = FnNames {
            scopes: vec![HashMap::new()],
            symbols: HashMap::new(),
            labels: HashMap::new(),
            label_pc: vec![],
            label_names: vec![],
            reg_names: vec![],
            reg_tys: vec![],
            sink: None,
        };
        for (n, off) in &self.module_shared {
            names.symbols.insert(n.clone(), Base::Shared(*off));
        }
        for n in &self.module_dyn {
            names.symbols.insert(n.clone(), Base::DynShared);
        }
        for p in &params {
            names.symbols.insert(p.name.clone(), Base::Param(p.offset));
        }
        let mut f = Function {
            name: name.clone(),
            is_entry,
            line,
            params,
            param_bytes,
            insts: vec![],
            texts: vec![],
            use_ranges: vec![],
            uses: vec![],
            def_ranges: vec![],
            defs: vec![],
            n_regs: 0,
            reg_names: vec![],
            reg_tys: vec![],
            shared_static: self.module_shared_bytes,
            dyn_shared_align: self.module_dyn_align,
            local_bytes: 0,
            reqntid,
            maxntid,
            minnctapersm,
        };
        self.body(&mut f, &mut names)?;
        // Resolve branch targets from label ids to instruction indices.
        for inst in f.insts.iter_mut() {
            if let Op::Control(c) = &mut inst.op {
                if let Some(id) = c.label_mut() {
                    match names.label_pc.get(*id as usize).copied().flatten() {
                        Some(pc) => *id = pc,
                        None => {
                            return Err(self.err(
                                inst.line,
                                &format!(
                                    "label {} is not defined in {}",
                                    names.label_names[*id as usize], f.name
                                ),
                            ))
                        }
                    }
                }
            }
        }
        f.n_regs = names.reg_names.len() as u32;
        f.reg_names = names.reg_names;
        f.reg_tys = names.reg_tys;
        Ok(Some(f))
    }

    fn body(&mut self, f: &mut Function, names: &mut FnNames) -> Result<(), ParseError> {
        loop {
            let line = self.line();
            match self.peek().cloned() {
                None => return Err(self.err(line, &format!("unterminated body of {}", f.name))),
                Some(Tok::Punct('{')) => {
                    self.pos += 1;
                    names.scopes.push(HashMap::new());
                }
                Some(Tok::Punct('}')) => {
                    self.pos += 1;
                    names.scopes.pop();
                    if names.scopes.is_empty() {
                        return Ok(());
                    }
                }
                Some(Tok::Punct('@')) => {
                    self.pos += 1;
                    let negate = self.eat('!');
                    let g = self.word()?;
                    let reg = names.reg(&g).ok_or_else(|| {
                        self.err(line, &format!("guard `{g}` is not a declared register"))
                    })?;
                    self.instruction(f, names, Some(Guard { reg, negate }))?;
                }
                Some(Tok::Word(w)) => {
                    if self.toks.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::Punct(':'))
                        && !w.starts_with('.')
                    {
                        self.pos += 2;
                        let id = names.label(&w);
                        if names.label_pc[id as usize].is_some() {
                            return Err(self.err(line, &format!("label {w} defined twice")));
                        }
                        names.label_pc[id as usize] = Some(f.insts.len() as u32);
                        continue;
                    }
                    match w.as_str() {
                        ".reg" => {
                            self.pos += 1;
                            self.reg_decl(names)?;
                        }
                        ".shared" | ".extern" => {
                            self.pos += 1;
                            let is_extern = w == ".extern";
                            if is_extern && self.word()? != ".shared" {
                                return Err(self.err(
                                    line,
                                    "only .extern .shared is supported inside a function",
                                ));
                            }
                            let (name, ty, count, align) = self.var_decl()?;
                            match (is_extern, count) {
                                (true, None) => {
                                    f.dyn_shared_align = f.dyn_shared_align.max(align);
                                    names.symbols.insert(name, Base::DynShared);
                                }
                                (false, Some(n)) => {
                                    let off = f.shared_static.next_multiple_of(align);
                                    f.shared_static = off + (n * ty.bytes() as u64) as u32;
                                    names.symbols.insert(name, Base::Shared(off));
                                }
                                _ => {
                                    return Err(self
                                        .err(line, "a .shared array without size must be .extern"))
                                }
                            }
                        }
                        ".local" => {
                            self.pos += 1;
                            let (name, ty, count, align) = self.var_decl()?;
                            let n = count
                                .ok_or_else(|| self.err(line, ".local array without a size"))?;
                            let off = f.local_bytes.next_multiple_of(align);
                            f.local_bytes = off + (n * ty.bytes() as u64) as u32;
                            names.symbols.insert(name, Base::Local(off));
                        }
                        ".pragma" => {
                            while !self.eat(';') {
                                if self.next_tok().is_none() {
                                    return Err(self.err(line, "unterminated .pragma"));
                                }
                            }
                        }
                        ".loc" | ".file" => {
                            self.pos += 1;
                            self.skip_line(line);
                        }
                        _ if w.starts_with('.') => {
                            return Err(self.err(
                                line,
                                &format!("unsupported directive {w} in a function body"),
                            ))
                        }
                        _ => self.instruction(f, names, None)?,
                    }
                }
                Some(t) => {
                    return Err(self.err(line, &format!("unexpected {t:?} in a function body")))
                }
            }
        }
    }

    /// `.reg .TYPE %a, %b<N>, ...;`
    fn reg_decl(&mut self, names: &mut FnNames) -> Result<(), ParseError> {
        let line = self.line();
        let w = self.word()?;
        if w == ".v2" || w == ".v4" {
            return Err(self.err(line, "vector registers (.reg .v2/.v4) are not supported"));
        }
        let ty = w
            .strip_prefix('.')
            .and_then(Ty::parse)
            .ok_or_else(|| self.err(line, &format!("unknown register type {w}")))?;
        loop {
            let name = self.word()?;
            if self.eat('<') {
                let n = self.int()?;
                self.expect('>')?;
                for i in 0..n {
                    let full = format!("{name}{i}");
                    let r = names.new_reg(&full, ty);
                    names.scopes.last_mut().expect("scope").insert(full, r);
                }
            } else {
                let r = names.new_reg(&name, ty);
                names.scopes.last_mut().expect("scope").insert(name, r);
            }
            if self.eat(';') {
                return Ok(());
            }
            self.expect(',')?;
        }
    }

    fn instruction(
        &mut self,
        f: &mut Function,
        names: &mut FnNames,
        guard: Option<Guard>,
    ) -> Result<(), ParseError> {
        let line = self.line();
        let opcode = self.word()?;
        let start = self.pos;
        while self.peek() != Some(&Tok::Punct(';')) {
            if self.pos >= self.toks.len() {
                return Err(self.err(line, &format!("`{opcode}` is missing its `;`")));
            }
            self.pos += 1;
        }
        let end = self.pos;
        self.pos += 1;
        let toks = self.toks[start..end].to_vec();
        let mut mods = Mods::new(&opcode);
        let mut ops = Operands::new(&toks, names);
        let op = ops::parse(&mut mods, &mut ops)
            .map_err(|m| self.err(line, &format!("{m} (in `{opcode}`)")))?;
        ops.end().map_err(|m| self.err(line, &format!("{m} (in `{opcode}`)")))?;
        mods.finish().map_err(|m| self.err(line, &m))?;
        let (u0, d0) = (f.uses.len() as u32, f.defs.len() as u32);
        op.visit_regs(&mut |r, def| if def { f.defs.push(r) } else { f.uses.push(r) });
        f.use_ranges.push((u0, f.uses.len() as u32));
        f.def_ranges.push((d0, f.defs.len() as u32));
        let text = self
            .lines
            .get(line as usize - 1)
            .map(|l| l.split("//").next().unwrap_or("").trim().trim_end_matches(';').to_string())
            .unwrap_or_default();
        f.texts.push(text);
        f.insts.push(Inst { op, guard, line });
        Ok(())
    }
}
