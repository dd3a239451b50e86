//! A parsed PTX module: its functions (`.entry` kernels and `.func` device functions) with
//! their parameters, registers and memory layouts, its module-scope `.global` and `.const`
//! variables with their initial bytes, and the decoded instructions of every function body.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::ParseError;
use super::inst::{Inst, Reg};
use super::types::{Space, Ty};

/// A parameter (ISA 5.1.6 "Parameter State Space"): of a kernel (its argument), or of a
/// `.func` (an argument or a return value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: Ty,
    /// `.param .align 8 .b8 name[16]`: an array of `ty` (a struct passed by value).
    pub array: Option<u32>,
    /// Byte offset in the parameter space of the function's frame (for a kernel: in the
    /// argument buffer).
    pub offset: u32,
    /// Declared with `.ptr` (a pointer; the interpreter treats it as its integer type).
    pub is_ptr: bool,
}

impl Param {
    pub fn bytes(&self) -> u32 {
        self.ty.bytes() * self.array.unwrap_or(1)
    }
}

/// A function (`.entry` kernel or `.func`) with its layout; its decoded instructions are
/// `module.code[body]`.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub is_entry: bool,
    pub line: u32,
    /// Kernel arguments, or a `.func`'s input parameters.
    pub params: Vec<Param>,
    /// Bytes of the parameters (for a `.func`: of its return values and parameters).
    pub param_bytes: u32,
    /// A `.func`'s return values (`.func (.param .b32 func_retval0) f(...)`), at the start
    /// of its frame's parameter space.
    pub returns: Vec<Param>,
    /// The parameter space of one frame: the parameters, then the `.param` variables the
    /// body declares for its own calls.
    pub frame_param_bytes: u32,
    /// Its instructions in [`Module::code`]; `None` for a function only declared here
    /// (`.extern .func`, a prototype never defined).
    pub body: Option<Range<u32>>,
    pub n_regs: u32,
    pub reg_names: Vec<String>,
    pub reg_tys: Vec<Ty>,
    /// Bytes of static `.shared` variables: for an entry, the module-scope ones and those of
    /// every `.func` body (one region at the start), then the entry's own.
    pub shared_static: u32,
    /// Alignment of the `.extern .shared` array (starts at `shared_static` rounded up).
    pub dyn_shared_align: u32,
    /// Bytes of `.local` variables per thread, per frame of this function.
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

/// A module-scope `.global` or `.const` variable (ISA 5.1.3, 5.1.4): a `__device__` or
/// `__constant__` variable, a string literal, a table of the math library. Each machine that
/// launches a kernel of the module holds one instance (see [`crate::Machine::symbol`]).
#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    /// [`Space::Global`] or [`Space::Const`] (read-only for kernels).
    pub space: Space,
    pub ty: Ty,
    pub bytes: u64,
    pub align: u32,
    /// Declared `.extern` and not defined in this module: it lives in another module, which
    /// the interpreter does not link (a kernel that reaches an instruction using it fails).
    pub is_extern: bool,
    pub line: u32,
    /// The initial bytes (zero where the declaration has no initializer, as the ISA says).
    pub init: Vec<u8>,
    /// Addresses in the initializer (`= {f, g}`, `= generic(table)`), written when the
    /// machine loads the module.
    pub relocs: Vec<Reloc>,
}

/// An address in a variable's initializer: `size` bytes at `offset` hold the address of
/// `target`, plus `addend`, masked by `mask` and shifted right by `shift` (the ISA's
/// `0xFF00(sym)` byte selectors; mask all ones and shift 0 otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    pub offset: u64,
    pub size: u8,
    pub target: Target,
    pub addend: i64,
    pub mask: u64,
    pub shift: u32,
}

/// What an address in an initializer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Var(u32),
    Func(u32),
}

/// Every function body's decoded instructions, one after another: a program counter is an
/// index here, so one number names an instruction of any function.
#[derive(Clone, Debug, Default)]
pub struct Code {
    pub insts: Vec<Inst>,
    /// The source text of each instruction, for reports.
    pub texts: Vec<String>,
    /// The function each instruction belongs to (an index in [`Module::functions`]).
    pub func: Vec<u32>,
    /// Per instruction, the registers it reads, as a range of `uses`.
    pub use_ranges: Vec<(u32, u32)>,
    pub uses: Vec<Reg>,
    /// Per instruction, the registers it writes, as a range of `defs`.
    pub def_ranges: Vec<(u32, u32)>,
    pub defs: Vec<Reg>,
}

/// A parsed PTX file.
#[derive(Clone, Debug)]
pub struct Module {
    pub file: String,
    pub version: String,
    pub target: String,
    pub functions: Vec<Function>,
    pub variables: Vec<Variable>,
    pub code: Code,
    /// Some instruction reads a `%reserved_smem_offset_*` register: launches set the reserved
    /// shared memory region aside (see `ctx::RESERVED_SMEM_BYTES`).
    pub uses_reserved_smem: bool,
    /// Names this module on a machine (its variables are loaded once per machine); clones
    /// share it.
    pub(crate) id: u64,
}

impl Module {
    /// Parses a PTX text; `file_name` is used in error messages.
    pub fn parse(text: &str, file_name: &str) -> Result<Module, ParseError> {
        super::parse::parse_module(text, file_name)
    }

    pub(crate) fn next_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// The names of the `.entry` kernels, in file order.
    pub fn entries(&self) -> Vec<&str> {
        self.functions.iter().filter(|f| f.is_entry).map(|f| f.name.as_str()).collect()
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.is_entry && f.name == name)
    }

    /// The function (entry or `.func`) called `name`.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The parameters of the entry called `name`.
    pub fn params(&self, entry: &str) -> Option<&[Param]> {
        self.entry(entry).map(|f| f.params.as_slice())
    }

    /// The module-scope `.global` or `.const` variable called `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// The function whose body holds instruction `pc`.
    pub fn function_at(&self, pc: u32) -> &Function {
        &self.functions[self.code.func[pc as usize] as usize]
    }
}
