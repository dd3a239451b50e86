//! The PTX parser: module directives, variables and their initializers, function headers,
//! declarations and statements (ISA 4 "Syntax", 5 "State Spaces, Types, and Variables",
//! 11 "Directives").
//!
//! Instructions are handed to their family's `parse` in `ops/`, which decodes the modifiers
//! and operands into that family's compact form. What is malformed (unbalanced brackets, two
//! operands without a comma, an undeclared `%` register, a label or function that does not
//! exist) is an error naming the line. An instruction whose text is well formed but that the
//! interpreter cannot run (an unknown opcode, modifier or operand form, an unknown special
//! register, a variable defined in another module) is kept as [`Op::Unsupported`]: the
//! module loads, and only a launch that reaches the instruction fails, naming it.
//!
//! Memory layout decided here: a `.func`'s parameter space holds its return values, then its
//! parameters, then (from the next 16-byte boundary) the `.param` variables its body declares
//! for its own calls (a `{ }` scope's are reused after the scope closes); an entry's
//! parameters are its kernel arguments, and its body's `.param` variables follow them the same
//! way. Shared memory: module-scope `.shared` variables and those of `.func` bodies form one
//! region shared by every entry; an entry's own variables follow it, then the dynamic
//! (`.extern .shared`) array.

mod vars;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::error::ParseError;
use super::inst::{Base, Guard, Inst, Op, Reg};
use super::lexer::{lex, FloatLit, Tok, Token};
use super::module::{Code, Function, Module, Param, Variable};
use super::operands::{Mods, Operands, Resolve};
use super::ops;
use super::ops::control::{Callee, ControlOp};
use super::types::{is_isa_sreg, Space, Sreg, Ty};

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    file: &'a str,
    lines: Vec<&'a str>,
    /// Every function name in the module (found before parsing), with its index.
    fn_ids: HashMap<String, u32>,
    functions: Vec<Option<Function>>,
    defined: HashSet<u32>,
    variables: Vec<Variable>,
    /// Module-scope names: `.shared` variables (offsets), `.extern .shared` arrays,
    /// `.global`/`.const` variables.
    module_syms: HashMap<String, Base>,
    /// Where the module's shared region (module-scope and `.func` variables) ends, and the
    /// highest offset any entry's variables reach.
    shared_module_end: u32,
    shared_top: u32,
    dyn_align: u32,
    code: Code,
    uses_reserved_smem: bool,
    /// Instructions naming a module variable, to refuse those still `.extern` at the end.
    var_refs: Vec<(u32, u32)>,
    /// Direct calls, to check against their callee's signature at the end.
    calls: Vec<u32>,
}

/// The names visible while parsing one function body.
struct FnNames<'p> {
    scopes: Vec<HashMap<String, Reg>>,
    sym_scopes: Vec<HashMap<String, Base>>,
    module_syms: &'p HashMap<String, Base>,
    fn_ids: &'p HashMap<String, u32>,
    labels: HashMap<String, u32>,
    label_pc: Vec<Option<u32>>,
    label_names: Vec<String>,
    reg_names: Vec<String>,
    reg_tys: Vec<Ty>,
    sink: Option<Reg>,
    carry: Option<Reg>,
    /// Module variables the instruction being parsed names.
    vars_named: RefCell<Vec<u32>>,
}

impl FnNames<'_> {
    fn new_reg(&mut self, name: &str, ty: Ty) -> Reg {
        let r = self.reg_names.len() as Reg;
        self.reg_names.push(name.to_string());
        self.reg_tys.push(ty);
        r
    }
}

impl Resolve for FnNames<'_> {
    fn reg(&self, name: &str) -> Option<Reg> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }
    fn reg_ty(&self, r: Reg) -> Ty {
        self.reg_tys[r as usize]
    }
    fn symbol(&self, name: &str) -> Option<Base> {
        let b = self
            .sym_scopes
            .iter()
            .rev()
            .find_map(|s| s.get(name).copied())
            .or_else(|| self.module_syms.get(name).copied())
            .or_else(|| self.fn_ids.get(name).map(|&f| Base::Func(f)))?;
        if let Base::Var(i) = b {
            self.vars_named.borrow_mut().push(i);
        }
        Some(b)
    }
    fn function(&self, name: &str) -> Option<u32> {
        self.fn_ids.get(name).copied()
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
    fn carry_flag(&mut self) -> Reg {
        match self.carry {
            Some(r) => r,
            None => {
                let r = self.new_reg("%cc", Ty::B32);
                self.carry = Some(r);
                r
            }
        }
    }
}

/// The names of every `.entry` and `.func` at module scope, in file order.
fn function_names(toks: &[Token]) -> Vec<String> {
    let mut names = vec![];
    let mut depth = 0i32;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth -= 1,
            Tok::Word(w) if depth == 0 && (w == ".entry" || w == ".func") => {
                let mut j = i + 1;
                if toks.get(j).map(|t| &t.tok) == Some(&Tok::Punct('(')) {
                    let mut d = 0;
                    while j < toks.len() {
                        match toks[j].tok {
                            Tok::Punct('(') => d += 1,
                            Tok::Punct(')') => d -= 1,
                            _ => {}
                        }
                        j += 1;
                        if d == 0 {
                            break;
                        }
                    }
                }
                if let Some(Tok::Word(n)) = toks.get(j).map(|t| &t.tok) {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

pub fn parse_module(text: &str, file: &str) -> Result<Module, ParseError> {
    let toks = lex(text, file)?;
    let names = function_names(&toks);
    let mut p = Parser {
        toks,
        pos: 0,
        file,
        lines: text.lines().collect(),
        fn_ids: names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect(),
        functions: vec![None; names.len()],
        defined: HashSet::new(),
        variables: vec![],
        module_syms: HashMap::new(),
        shared_module_end: 0,
        shared_top: 0,
        dyn_align: 1,
        code: Code::default(),
        uses_reserved_smem: false,
        var_refs: vec![],
        calls: vec![],
    };
    let mut m = Module {
        file: file.to_string(),
        version: String::new(),
        target: String::new(),
        functions: vec![],
        variables: vec![],
        code: Code::default(),
        uses_reserved_smem: false,
        id: Module::next_id(),
    };
    let mut is_extern = false;
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
            ".visible" | ".weak" | ".common" => continue,
            ".extern" => {
                is_extern = true;
                continue;
            }
            ".entry" | ".func" => p.function(w == ".entry", line)?,
            ".shared" => p.module_shared_decl(is_extern)?,
            ".global" | ".const" => {
                let space = if w == ".global" { Space::Global } else { Space::Const };
                p.module_var(space, is_extern, line)?
            }
            ".file" | ".loc" => p.skip_line(line),
            ".section" => p.skip_section()?,
            ".pragma" => p.skip_to_semicolon(line)?,
            ".local" => {
                return Err(p.err(line, "module-scope .local variables are not supported"));
            }
            other => return Err(p.err(line, &format!("unexpected `{other}` at module scope"))),
        }
        is_extern = false;
    }
    p.finish(&mut m)?;
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

    fn skip_to_semicolon(&mut self, line: u32) -> Result<(), ParseError> {
        while !self.eat(';') {
            if self.next_tok().is_none() {
                return Err(self.err(line, "missing `;`"));
            }
        }
        Ok(())
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

    /// Skips a parenthesised group (`.attribute(.managed)`).
    fn skip_parens(&mut self, line: u32) -> Result<(), ParseError> {
        self.expect('(')?;
        let mut depth = 1;
        while depth > 0 {
            match self.next_tok() {
                Some(Tok::Punct('(')) => depth += 1,
                Some(Tok::Punct(')')) => depth -= 1,
                Some(_) => {}
                None => return Err(self.err(line, "unbalanced `(`")),
            }
        }
        Ok(())
    }

    /// `( .param .u64 .ptr .global .align 8 name, ... )`, laid out from `offset`.
    fn params(&mut self, mut offset: u32) -> Result<(Vec<Param>, u32), ParseError> {
        let mut params = vec![];
        self.expect('(')?;
        if self.eat(')') {
            return Ok((params, offset));
        }
        loop {
            let line = self.line();
            let w = self.word()?;
            if w != ".param" && w != ".reg" {
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

    /// An `.entry` or `.func`: a declaration (`;`) or a definition with its body.
    fn function(&mut self, is_entry: bool, line: u32) -> Result<(), ParseError> {
        let (returns, ret_end) = if !is_entry && self.peek() == Some(&Tok::Punct('(')) {
            self.params(0)?
        } else {
            (vec![], 0)
        };
        let name = self.word()?;
        let (params, param_bytes) = if self.peek() == Some(&Tok::Punct('(')) {
            self.params(ret_end)?
        } else {
            (vec![], ret_end)
        };
        let (mut reqntid, mut maxntid, mut minnctapersm) = (None, None, None);
        let has_body = loop {
            let l = self.line();
            match self.peek() {
                Some(Tok::Punct(';')) => {
                    self.pos += 1;
                    break false;
                }
                Some(Tok::Punct('{')) => {
                    self.pos += 1;
                    break true;
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
                        ".reqnctapercluster" => {
                            self.dims()?;
                        }
                        ".explicitcluster" | ".noreturn" | ".blocksareclusters" => {}
                        ".attribute" => self.skip_parens(l)?,
                        ".pragma" => self.skip_to_semicolon(l)?,
                        other => {
                            return Err(self
                                .err(l, &format!("unexpected `{other}` in the header of {name}")))
                        }
                    }
                }
                _ => return Err(self.err(l, &format!("expected the body of {name}"))),
            }
        };
        let id = self.fn_ids[&name];
        let frame_params = param_bytes.next_multiple_of(16);
        let mut f = Function {
            name: name.clone(),
            is_entry,
            line,
            params,
            param_bytes,
            returns,
            frame_param_bytes: param_bytes,
            body: None,
            n_regs: 0,
            reg_names: vec![],
            reg_tys: vec![],
            shared_static: if is_entry { self.shared_module_end } else { 0 },
            dyn_shared_align: 1,
            local_bytes: 0,
            reqntid,
            maxntid,
            minnctapersm,
        };
        if !has_body {
            if self.functions[id as usize].is_none() {
                self.functions[id as usize] = Some(f);
            }
            return Ok(());
        }
        if !self.defined.insert(id) {
            return Err(self.err(line, &format!("function {name} defined twice")));
        }
        let module_syms = std::mem::take(&mut self.module_syms);
        let fn_ids = std::mem::take(&mut self.fn_ids);
        let mut names = FnNames {
            scopes: vec![HashMap::new()],
            sym_scopes: vec![HashMap::new()],
            module_syms: &module_syms,
            fn_ids: &fn_ids,
            labels: HashMap::new(),
            label_pc: vec![],
            label_names: vec![],
            reg_names: vec![],
            reg_tys: vec![],
            sink: None,
            carry: None,
            vars_named: RefCell::new(vec![]),
        };
        for p in f.params.iter().chain(&f.returns) {
            names.sym_scopes[0].insert(p.name.clone(), Base::Param(p.offset));
        }
        let start = self.code.insts.len() as u32;
        let mut frame = FrameLayout { params: frame_params, params_max: frame_params };
        let r = self.body(&mut f, id, &mut names, &mut frame);
        let label_fix = r.and_then(|_| self.resolve_labels(&f, start, &names));
        let (n_regs, reg_names, reg_tys) =
            (names.reg_names.len() as u32, names.reg_names, names.reg_tys);
        self.module_syms = module_syms;
        self.fn_ids = fn_ids;
        label_fix?;
        f.body = Some(start..self.code.insts.len() as u32);
        f.n_regs = n_regs;
        f.reg_names = reg_names;
        f.reg_tys = reg_tys;
        f.frame_param_bytes =
            if frame.params_max > frame_params { frame.params_max } else { param_bytes };
        if is_entry {
            self.shared_top = self.shared_top.max(f.shared_static);
        }
        self.functions[id as usize] = Some(f);
        Ok(())
    }

    /// Branch targets from label ids to instruction indices.
    fn resolve_labels(
        &mut self,
        f: &Function,
        start: u32,
        names: &FnNames,
    ) -> Result<(), ParseError> {
        for pc in start as usize..self.code.insts.len() {
            let line = self.code.insts[pc].line;
            if let Op::Control(c) = &mut self.code.insts[pc].op {
                if let Some(id) = c.label_mut() {
                    match names.label_pc.get(*id as usize).copied().flatten() {
                        Some(target) => *id = target,
                        None => {
                            let msg = format!(
                                "label {} is not defined in {}",
                                names.label_names[*id as usize], f.name
                            );
                            return Err(self.err(line, &msg));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn body(
        &mut self,
        f: &mut Function,
        id: u32,
        names: &mut FnNames,
        frame: &mut FrameLayout,
    ) -> Result<(), ParseError> {
        let mut param_marks = vec![];
        loop {
            let line = self.line();
            match self.peek().cloned() {
                None => return Err(self.err(line, &format!("unterminated body of {}", f.name))),
                Some(Tok::Punct('{')) => {
                    self.pos += 1;
                    names.scopes.push(HashMap::new());
                    names.sym_scopes.push(HashMap::new());
                    param_marks.push(frame.params);
                }
                Some(Tok::Punct('}')) => {
                    self.pos += 1;
                    names.scopes.pop();
                    names.sym_scopes.pop();
                    if let Some(m) = param_marks.pop() {
                        frame.params = m;
                    }
                    if names.scopes.is_empty() {
                        // The end of the body returns, as a `ret` would.
                        self.push_inst(
                            id,
                            Inst { op: Op::Control(ControlOp::Ret), guard: None, line },
                            format!("}} (end of {})", f.name),
                            &[],
                        );
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
                    self.instruction(id, names, Some(Guard { reg, negate }))?;
                }
                Some(Tok::Word(w)) => {
                    if self.toks.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::Punct(':'))
                        && !w.starts_with('.')
                    {
                        self.pos += 2;
                        if matches!(self.peek_word(), Some(".callprototype" | ".calltargets")) {
                            // `proto: .callprototype (.param .b32 _) _ (.param .b32 _);`: only
                            // describes an indirect call's callee.
                            self.skip_to_semicolon(line)?;
                            continue;
                        }
                        let lid = names.label(&w);
                        if names.label_pc[lid as usize].is_some() {
                            return Err(self.err(line, &format!("label {w} defined twice")));
                        }
                        names.label_pc[lid as usize] = Some(self.code.insts.len() as u32);
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
                            let d = self.var_decl()?;
                            if d.init.is_some() {
                                return Err(
                                    self.err(line, ".shared variables cannot be initialised")
                                );
                            }
                            let base = match (is_extern, d.count) {
                                (true, None) => {
                                    if f.is_entry {
                                        f.dyn_shared_align = f.dyn_shared_align.max(d.align);
                                    } else {
                                        self.dyn_align = self.dyn_align.max(d.align);
                                    }
                                    Base::DynShared
                                }
                                (_, Some(_)) if f.is_entry => {
                                    let off = f.shared_static.next_multiple_of(d.align);
                                    f.shared_static = off + d.bytes() as u32;
                                    Base::Shared(off)
                                }
                                (_, Some(_)) => Base::Shared(self.module_shared(&d)),
                                _ => {
                                    return Err(self
                                        .err(line, "a .shared array without size must be .extern"))
                                }
                            };
                            names.sym_scopes.last_mut().expect("scope").insert(d.name, base);
                        }
                        ".local" => {
                            self.pos += 1;
                            let d = self.var_decl()?;
                            if d.count.is_none() {
                                return Err(self.err(line, ".local array without a size"));
                            }
                            let off = f.local_bytes.next_multiple_of(d.align);
                            f.local_bytes = off + d.bytes() as u32;
                            names
                                .sym_scopes
                                .last_mut()
                                .expect("scope")
                                .insert(d.name, Base::Local(off));
                        }
                        ".param" => {
                            // A `.param` variable for a call's argument or return value.
                            self.pos += 1;
                            let d = self.var_decl()?;
                            let off = frame.params.next_multiple_of(d.align.max(1));
                            frame.params = off + d.bytes() as u32;
                            frame.params_max = frame.params_max.max(frame.params);
                            names
                                .sym_scopes
                                .last_mut()
                                .expect("scope")
                                .insert(d.name, Base::Param(off));
                        }
                        ".pragma" => self.skip_to_semicolon(line)?,
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
                        _ => self.instruction(id, names, None)?,
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
        let mut w = self.word()?;
        if w == ".v2" || w == ".v4" {
            return Err(self.err(line, "vector registers (.reg .v2/.v4) are not supported"));
        }
        if w == ".align" {
            self.int()?;
            w = self.word()?;
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

    /// The instruction's text for reports: its source lines, comments removed.
    fn text(&self, first: u32, last: u32) -> String {
        let mut parts = vec![];
        for l in first..=last {
            let t = self.lines.get(l as usize - 1).copied().unwrap_or("");
            let t = t.split("//").next().unwrap_or("").trim();
            if !t.is_empty() {
                parts.push(t);
            }
        }
        let s = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        let s = s.trim_end_matches(';').to_string();
        match s.find(';') {
            // Several instructions on one line: the first (ours) only.
            Some(i) if first == last => s[..i].to_string(),
            _ => s,
        }
    }

    fn push_inst(&mut self, func: u32, inst: Inst, text: String, vars: &[u32]) {
        let pc = self.code.insts.len() as u32;
        let c = &mut self.code;
        let (u0, d0) = (c.uses.len() as u32, c.defs.len() as u32);
        inst.op.visit_regs(&mut |r, def| if def { c.defs.push(r) } else { c.uses.push(r) });
        c.use_ranges.push((u0, c.uses.len() as u32));
        c.def_ranges.push((d0, c.defs.len() as u32));
        c.texts.push(text);
        c.func.push(func);
        if let Op::Control(ControlOp::Call(call)) = &inst.op {
            if let Callee::Direct(_) = call.callee {
                self.calls.push(pc);
            }
        }
        c.insts.push(inst);
        for &v in vars {
            self.var_refs.push((pc, v));
        }
    }

    fn instruction(
        &mut self,
        func: u32,
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
        let last_line = self.toks[end].line;
        self.pos += 1;
        let toks = self.toks[start..end].to_vec();
        let reserved = check_syntax(&toks, names)
            .map_err(|m| self.err(line, &format!("{m} (in `{opcode}`)")))?;
        self.uses_reserved_smem |= reserved;
        names.vars_named.borrow_mut().clear();
        let mut mods = Mods::new(&opcode);
        let decoded = {
            let mut ops = Operands::new(&toks, names);
            ops::parse(&mut mods, &mut ops)
                .and_then(|op| ops.end().map(|_| op))
                .and_then(|op| mods.finish().map(|_| op))
        };
        let text = self.text(line, last_line);
        let op = match decoded {
            Ok(op) => op,
            Err(m) => Op::Unsupported(Box::new(m)),
        };
        let vars = std::mem::take(&mut *names.vars_named.borrow_mut());
        self.push_inst(func, Inst { op, guard, line }, text, &vars);
        Ok(())
    }

    /// Completes the module: declarations without definitions, shared layouts, calls checked
    /// against their callees, instructions naming variables no module here defines.
    fn finish(mut self, m: &mut Module) -> Result<(), ParseError> {
        let mut functions = vec![];
        for (i, f) in std::mem::take(&mut self.functions).into_iter().enumerate() {
            let name = self.fn_ids.iter().find(|(_, &j)| j == i as u32).map(|(n, _)| n.clone());
            match f {
                Some(mut f) => {
                    if f.is_entry {
                        f.shared_static = f.shared_static.max(self.shared_module_end);
                        f.dyn_shared_align = f.dyn_shared_align.max(self.dyn_align);
                    }
                    functions.push(f);
                }
                None => {
                    return Err(self
                        .err(1, &format!("function {} has no header", name.unwrap_or_default())))
                }
            }
        }
        for &pc in &self.calls {
            let inst = &self.code.insts[pc as usize];
            if let Op::Control(ControlOp::Call(c)) = &inst.op {
                if let Callee::Direct(f) = c.callee {
                    ops::control::check_signature(c, &functions[f as usize])
                        .map_err(|e| self.err(inst.line, &e))?;
                }
            }
        }
        for &(pc, v) in &self.var_refs {
            let var = &self.variables[v as usize];
            if var.is_extern {
                self.code.insts[pc as usize].op = Op::Unsupported(Box::new(format!(
                    "{} is declared .extern and defined in no module loaded (the interpreter \
                     does not link modules)",
                    var.name
                )));
            }
        }
        m.functions = functions;
        m.variables = self.variables;
        m.code = self.code;
        m.uses_reserved_smem = self.uses_reserved_smem;
        Ok(())
    }
}

/// The parameter space a function body's `.param` declarations take.
struct FrameLayout {
    params: u32,
    params_max: u32,
}

/// Checks an instruction's operand text is well formed: brackets balanced, operands
/// separated, every `%` name a declared register or a special register of the ISA. Returns
/// whether it reads a `%reserved_smem_offset_*` register.
fn check_syntax(toks: &[Token], names: &FnNames) -> Result<bool, String> {
    let mut stack = vec![];
    let mut after_atom = false;
    let mut reserved = false;
    for t in toks {
        match &t.tok {
            Tok::Word(w) | Tok::Str(w) => {
                if after_atom {
                    return Err(format!("expected `,` before `{w}`"));
                }
                if w.starts_with('%') && names.reg(w).is_none() {
                    if !is_isa_sreg(w) {
                        return Err(format!("`{w}` is not a declared register"));
                    }
                    reserved |= Sreg::parse(w).is_some_and(|s| s.is_reserved_smem());
                }
                after_atom = true;
            }
            Tok::Int(_) | Tok::Float(_) => {
                if after_atom {
                    return Err("expected `,` before a number".into());
                }
                after_atom = true;
            }
            Tok::Punct(c) => match c {
                '[' | '{' | '(' => {
                    if after_atom && *c != '(' {
                        return Err(format!("expected `,` before `{c}`"));
                    }
                    stack.push(*c);
                    after_atom = false;
                }
                ']' | '}' | ')' => {
                    let open = match c {
                        ']' => '[',
                        '}' => '{',
                        _ => '(',
                    };
                    if stack.pop() != Some(open) {
                        return Err(format!("unbalanced `{c}`"));
                    }
                    after_atom = true;
                }
                ',' | '+' | '-' | '|' | '!' => after_atom = false,
                other => return Err(format!("unexpected `{other}`")),
            },
        }
    }
    if let Some(c) = stack.pop() {
        return Err(format!("unclosed `{c}`"));
    }
    Ok(reserved)
}
