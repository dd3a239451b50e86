//! A parsed PTX module: its entries (kernels) with their parameters, registers, shared
//! memory layout and decoded instructions.

use super::error::ParseError;
use super::inst::{Inst, Reg};
use super::types::Ty;

/// A parameter of an entry (ISA 5.1.6 "Kernel Function Parameters").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: Ty,
    /// `.param .align 8 .b8 name[16]`: an array of `ty` (a struct passed by value).
    pub array: Option<u32>,
    /// Byte offset in the parameter buffer.
    pub offset: u32,
    /// Declared with `.ptr` (a pointer; the interpreter treats it as its integer type).
    pub is_ptr: bool,
}

impl Param {
    pub fn bytes(&self) -> u32 {
        self.ty.bytes() * self.array.unwrap_or(1)
    }
}

/// A function (`.entry` kernel or `.func`) with its decoded body.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub is_entry: bool,
    pub line: u32,
    pub params: Vec<Param>,
    pub param_bytes: u32,
    pub insts: Vec<Inst>,
    /// The source text of each instruction, for reports.
    pub texts: Vec<String>,
    /// Per instruction, the registers it reads, as a range of `uses`.
    pub use_ranges: Vec<(u32, u32)>,
    pub uses: Vec<Reg>,
    /// Per instruction, the registers it writes, as a range of `defs`.
    pub def_ranges: Vec<(u32, u32)>,
    pub defs: Vec<Reg>,
    pub n_regs: u32,
    pub reg_names: Vec<String>,
    pub reg_tys: Vec<Ty>,
    /// Bytes of static `.shared` variables (module scope and this function's).
    pub shared_static: u32,
    /// Alignment of the `.extern .shared` array (starts at `shared_static` rounded up).
    pub dyn_shared_align: u32,
    /// Bytes of `.local` variables per thread.
    pub local_bytes: u32,
    pub reqntid: Option<[u32; 3]>,
    pub maxntid: Option<[u32; 3]>,
    pub minnctapersm: Option<u32>,
}

impl Function {
    /// Where the dynamic shared memory starts in the block's shared window.
    pub fn dyn_shared_offset(&self) -> u32 {
        self.shared_static.next_multiple_of(self.dyn_shared_align.max(1))
    }
}

/// A parsed PTX file.
#[derive(Clone, Debug)]
pub struct Module {
    pub file: String,
    pub version: String,
    pub target: String,
    pub functions: Vec<Function>,
}

impl Module {
    /// Parses a PTX text; `file_name` is used in error messages.
    pub fn parse(text: &str, file_name: &str) -> Result<Module, ParseError> {
        super::parse::parse_module(text, file_name)
    }

    /// The names of the `.entry` kernels, in file order.
    pub fn entries(&self) -> Vec<&str> {
        self.functions.iter().filter(|f| f.is_entry).map(|f| f.name.as_str()).collect()
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.is_entry && f.name == name)
    }

    /// The parameters of the entry called `name`.
    pub fn params(&self, entry: &str) -> Option<&[Param]> {
        self.entry(entry).map(|f| f.params.as_slice())
    }
}
