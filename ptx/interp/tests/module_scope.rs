//! Module-scope variables (ISA 5.1.3 "Constant State Space", 5.1.4 "Global State Space",
//! 5.4.4 "Initializers"): `__device__` and `__constant__` variables as nvcc writes them
//! (`tests/kernels/globals.cu`, compiled by the pinned nvcc to `globals.ptx`), read and
//! written by kernels and by the host through [`Machine::symbol`]; every initializer form of
//! the ISA; `.const` being read-only; `.extern` variables no module here defines; static
//! `.shared` variables at module scope and in `.func` bodies; the reserved shared memory
//! region and its special registers.

mod common;

use common::{f32s, kernels, u32s};
use ptx_interp::{Arg, LaunchError, Machine, Module, ProblemKind};

#[test]
fn device_and_constant_variables_with_their_initializers() {
    let module = kernels("globals.ptx");
    let mut m = Machine::new(1);
    // The host sets `__constant__ int cfg` before the launch (cudaMemcpyToSymbol).
    let cfg = m.symbol(&module, "cfg").expect("cfg");
    m.write(cfg, &1u32.to_le_bytes()).unwrap();
    let out = m.alloc(4 * 32).unwrap();
    let r = m.launch(&module, "globals", [1; 3], [32, 1, 1], 0, &[Arg::Ptr(out)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let table = [1.0f32, 2.0, 3.0, 4.0];
    let greeting = b"hello";
    let entries = [(10.0f32, table[1]), (20.0, table[3])];
    for (i, got) in f32s(&m, out, 32).into_iter().enumerate() {
        let (key, value) = entries[i & 1];
        let want = table[i & 3] * 0.25 + table[0] + greeting[i % 5] as f32 + value + key;
        assert_eq!(got, want, "out[{i}]");
    }
    // `__device__ int counter`, zero at load, counts every thread, across launches.
    let counter = m.symbol(&module, "counter").unwrap();
    assert_eq!(u32s(&m, counter, 1), [32]);
    m.launch(&module, "globals", [2, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(out)]).unwrap();
    assert_eq!(u32s(&m, counter, 1), [96]);
    // Initial values as the host sees them: a string, a pointer, a struct array of keys and
    // pointers (nvcc writes it as .u64 with generic(table)+4).
    let table_at = m.symbol(&module, "table").unwrap();
    let g = m.symbol(&module, "greeting").unwrap();
    assert_eq!(m.read(g, 6).unwrap(), b"hello\0");
    let p = m.symbol(&module, "table_ptr").unwrap();
    assert_eq!(m.read(p, 8).unwrap(), table_at.to_le_bytes());
    let e = m.symbol(&module, "entries").unwrap();
    let words: Vec<u64> = m
        .read(e, 32)
        .unwrap()
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words, [10, table_at + 4, 20, table_at + 12]);
    assert_eq!(m.symbol(&module, "no_such_variable"), None);
    // Another machine has its own instance.
    let mut other = Machine::new(1);
    let c2 = other.symbol(&module, "counter").unwrap();
    assert_eq!(u32s(&other, c2, 1), [0]);
}

#[test]
fn a_kernel_writes_a_device_array_the_host_reads_back() {
    let module = kernels("globals.ptx");
    let mut m = Machine::new(0);
    let r = m.launch(&module, "scale_table", [1; 3], [32, 1, 1], 0, &[]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let t = m.symbol(&module, "table").unwrap();
    assert_eq!(f32s(&m, t, 4), [2.0, 4.0, 6.0, 8.0]);
}

#[test]
fn nvcc_turns_a_store_to_constant_memory_into_a_trap() {
    // `p[i] = v` through a pointer to a __constant__: nvcc warns and emits `trap;`.
    let module = kernels("globals.ptx");
    match Machine::new(0).launch(&module, "write_const", [1; 3], [4, 1, 1], 0, &[Arg::F32(1.0)]) {
        Err(LaunchError::Fault { kernel, detail }) => {
            assert_eq!(kernel, "write_const");
            assert!(detail.contains("trap") && detail.contains("`trap`"), "{detail}");
        }
        other => panic!("expected the trap, got {other:?}"),
    }
}

const HEAD: &str = ".version 8.0\n.target sm_80\n.address_size 64\n";

#[test]
fn constant_memory_is_read_only_and_holds_only_constants() {
    let text = format!(
        "{HEAD}.const .align 4 .u32 c[2] = {{5, 6}};\n\
         .visible .entry k(.param .u64 out)\n{{\n.reg .b64 %rd<4>;\n.reg .b32 %r<3>;\n\
         mov.u64 %rd1, c;\ncvta.const.u64 %rd2, %rd1;\n\
         st.u32 [%rd2], 7; // BUG: a store into constant memory\n\
         ld.const.u32 %r1, [c+4];\nld.param.u64 %rd3, [out];\nst.global.u32 [%rd3], %r1;\n\
         ld.const.u32 %r2, [%rd3]; // BUG: not constant memory\nret;\n}}\n"
    );
    let module = Module::parse(&text, "c.ptx").unwrap();
    let mut m = Machine::new(0);
    let out = m.alloc(4).unwrap();
    let r = m.launch(&module, "k", [1; 3], [1; 3], 0, &[Arg::Ptr(out)]).unwrap();
    let w = r.of_kind(ProblemKind::ReadOnlyWrite);
    assert_eq!(w[0].site.line, 11, "{:#?}", r.problems);
    assert!(w[0].detail.contains("the .const variable `c`"), "{}", w[0]);
    let o = r.of_kind(ProblemKind::OutOfBounds);
    assert_eq!(o[0].site.line, 15, "{}", o[0]);
    assert!(o[0].detail.contains("not in a .const variable"), "{}", o[0]);
    // The store did not happen; the load of c[1] did.
    let c = m.symbol(&module, "c").unwrap();
    assert_eq!(u32s(&m, c, 2), [5, 6]);
    assert_eq!(u32s(&m, out, 1), [6]);
    // The host may write constant memory.
    m.write(c, &9u32.to_le_bytes()).unwrap();
    assert_eq!(u32s(&m, c, 1), [9]);
}

#[test]
fn every_initializer_form() {
    let text = format!(
        "{HEAD}.global .align 4 .u32 arr[] = {{1, 2, 3}};\n\
         .global .f32 one = 0f3F800000;\n\
         .global .f64 two = 0d4000000000000000;\n\
         .global .f32 half = 0.5;\n\
         .global .s32 neg = -5;\n\
         .global .u32 grid[2][2] = {{{{1, 2}}, {{3, 4}}}};\n\
         .global .v2 .u32 pair = {{7, 8}};\n\
         .global .u32 partial[4] = {{9}};\n\
         .weak .global .u32 weak_one = 3;\n\
         .visible .global .u32 visible_one = 4;\n\
         .common .global .u32 common_one;\n\
         .global .u64 past = arr+4;\n\
         .global .u64 gen = generic(arr)+8;\n\
         .global .u8 bytes[2] = {{0xff(arr), 0xff00(arr)}};\n\
         .func (.param .b32 r) f(.param .b32 a)\n{{\nst.param.b32 [r], 5;\nret;\n}}\n\
         .const .u64 fptr = f;\n\
         .visible .entry k()\n{{\nret;\n}}\n"
    );
    let module = Module::parse(&text, "init.ptx").unwrap();
    let mut m = Machine::new(0);
    let sym = |m: &mut Machine, n: &str| m.symbol(&module, n).unwrap();
    let arr = sym(&mut m, "arr");
    assert_eq!(module.variable("arr").unwrap().bytes, 12);
    assert_eq!(u32s(&m, arr, 3), [1, 2, 3]);
    let one = sym(&mut m, "one");
    assert_eq!(f32s(&m, one, 1), [1.0]);
    let two = sym(&mut m, "two");
    assert_eq!(m.read(two, 8).unwrap(), 2.0f64.to_le_bytes());
    let half = sym(&mut m, "half");
    assert_eq!(f32s(&m, half, 1), [0.5]);
    let neg = sym(&mut m, "neg");
    assert_eq!(u32s(&m, neg, 1), [(-5i32) as u32]);
    let grid = sym(&mut m, "grid");
    assert_eq!(u32s(&m, grid, 4), [1, 2, 3, 4]);
    let pair = sym(&mut m, "pair");
    assert_eq!(u32s(&m, pair, 2), [7, 8]);
    let partial = sym(&mut m, "partial");
    assert_eq!(u32s(&m, partial, 4), [9, 0, 0, 0]);
    for (n, v) in [("weak_one", 3), ("visible_one", 4), ("common_one", 0)] {
        let a = sym(&mut m, n);
        assert_eq!(u32s(&m, a, 1), [v], "{n}");
    }
    let past = sym(&mut m, "past");
    assert_eq!(m.read(past, 8).unwrap(), (arr + 4).to_le_bytes());
    let gen = sym(&mut m, "gen");
    assert_eq!(m.read(gen, 8).unwrap(), (arr + 8).to_le_bytes());
    let bytes = sym(&mut m, "bytes");
    assert_eq!(m.read(bytes, 2).unwrap(), [arr as u8, (arr >> 8) as u8]);
    // A function's address: what `mov.u64 %rd, f;` gives, and what an indirect call takes.
    let fptr = sym(&mut m, "fptr");
    assert_ne!(m.read(fptr, 8).unwrap(), [0; 8]);
    // Malformed initializers are parse errors.
    let bad =
        |decl: &str| Module::parse(&format!("{HEAD}{decl}\n"), "bad.ptx").unwrap_err().to_string();
    assert!(bad(".global .u32 x[2] = {1, 2, 3};").contains("3 initializer values for 2"));
    assert!(bad(".global .u64 p = nowhere;").contains("nowhere"));
    assert!(bad(".shared .u32 s = 1;").contains("cannot be initialised"));
}

#[test]
fn an_extern_variable_fails_only_the_entries_that_reach_it() {
    let text = format!(
        "{HEAD}.extern .global .align 4 .u32 elsewhere;\n\
         .visible .entry uses(.param .u64 out)\n{{\n.reg .b32 %r<2>;\n.reg .b64 %rd<2>;\n\
         ld.global.u32 %r1, [elsewhere];\nld.param.u64 %rd1, [out];\nst.global.u32 [%rd1], %r1;\n\
         ret;\n}}\n.visible .entry ignores(.param .u64 out)\n{{\nret;\n}}\n"
    );
    let module = Module::parse(&text, "ext.ptx").unwrap();
    let mut m = Machine::new(0);
    let out = m.alloc(4).unwrap();
    assert!(m.launch(&module, "ignores", [1; 3], [1; 3], 0, &[Arg::Ptr(out)]).unwrap().is_clean());
    let e = m.launch(&module, "uses", [1; 3], [1; 3], 0, &[Arg::Ptr(out)]).unwrap_err();
    let s = e.to_string();
    assert!(matches!(e, LaunchError::Unsupported { .. }), "{s}");
    assert!(s.contains("line 9") && s.contains("elsewhere is declared .extern"), "{s}");
    assert_eq!(m.symbol(&module, "elsewhere"), None);
    // Defined later in the same module, it is an ordinary variable.
    let text = format!(
        "{HEAD}.extern .global .align 4 .u32 v;\n.visible .global .align 4 .u32 v = 11;\n\
         .visible .entry k(.param .u64 out)\n{{\n.reg .b32 %r<2>;\n.reg .b64 %rd<2>;\n\
         ld.global.u32 %r1, [v];\nld.param.u64 %rd1, [out];\nst.global.u32 [%rd1], %r1;\nret;\n}}\n"
    );
    let module = Module::parse(&text, "ext2.ptx").unwrap();
    let r = m.launch(&module, "k", [1; 3], [1; 3], 0, &[Arg::Ptr(out)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    assert_eq!(u32s(&m, out, 1), [11]);
}

#[test]
fn static_shared_variables_of_the_module_and_of_functions_do_not_overlap_an_entrys_own() {
    // `first`'s own variable is laid out before the module-scope `late` and the `.func`'s
    // `fs` are seen; all three must be distinct, and the function's writes must not clobber
    // the entry's variable.
    let text = format!(
        "{HEAD}.visible .entry first(.param .u64 out)\n{{\n.shared .align 4 .u32 own[1];\n\
         .reg .b32 %r<3>;\n.reg .b64 %rd<2>;\n.param .b64 p0;\nld.param.u64 %rd1, [out];\n\
         st.shared.u32 [own], 1;\nst.param.b64 [p0], %rd1;\ncall.uni bump, (p0);\n\
         ld.shared.u32 %r1, [own];\nmov.u32 %r2, own;\nst.global.v2.u32 [%rd1], {{%r1, %r2}};\n\
         ret;\n}}\n.shared .align 4 .u32 late[1];\n\
         .func bump(.param .b64 o)\n{{\n.shared .align 4 .u32 fs[1];\n.reg .b32 %r<4>;\n\
         .reg .b64 %rd<2>;\nld.param.u64 %rd1, [o];\nst.shared.u32 [late], 2;\n\
         st.shared.u32 [fs], 7;\nld.shared.u32 %r1, [late];\nmov.u32 %r2, late;\nmov.u32 %r3, fs;\n\
         st.global.v2.u32 [%rd1+8], {{%r1, %r2}};\nst.global.u32 [%rd1+16], %r3;\nret;\n}}\n"
    );
    let module = Module::parse(&text, "shared.ptx").unwrap();
    let f = module.entry("first").unwrap();
    assert!(f.shared_static >= 12, "own, late and fs: {}", f.shared_static);
    let mut m = Machine::new(0);
    let out = m.alloc(20).unwrap();
    let r = m.launch(&module, "first", [1; 3], [1; 3], 0, &[Arg::Ptr(out)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let v = u32s(&m, out, 5);
    assert_eq!((v[0], v[2]), (1, 2), "{v:?}");
    let (own, late, fs) = (v[1], v[3], v[4]);
    assert!(own != late && late != fs && own != fs, "{v:?}");
}

#[test]
fn the_reserved_shared_region_and_the_shared_memory_registers() {
    let text = format!(
        "{HEAD}.visible .entry k(.param .u64 out)\n{{\n.shared .align 4 .b8 s[16];\n\
         .reg .b32 %r<9>;\n.reg .b64 %rd<4>;\n\
         mov.u32 %r1, %reserved_smem_offset_begin;\nmov.u32 %r2, %reserved_smem_offset_end;\n\
         mov.u32 %r3, %reserved_smem_offset_cap;\nmov.u32 %r4, %reserved_smem_offset_0;\n\
         mov.u32 %r5, %reserved_smem_offset_1;\nmov.u32 %r6, %total_smem_size;\n\
         mov.u32 %r7, %aggr_smem_size;\nmov.u32 %r8, %dynamic_smem_size;\n\
         ld.param.u64 %rd1, [out];\nst.global.v4.u32 [%rd1], {{%r1, %r2, %r3, %r4}};\n\
         st.global.v4.u32 [%rd1+16], {{%r5, %r6, %r7, %r8}};\n\
         cvt.u64.u32 %rd2, %r5;\ncvta.shared.u64 %rd3, %rd2;\nst.u32 [%rd3], 42;\n\
         ld.u32 %r1, [%rd3];\nst.global.u32 [%rd1+32], %r1;\nret;\n}}\n"
    );
    let module = Module::parse(&text, "reserved.ptx").unwrap();
    assert!(module.uses_reserved_smem);
    let mut m = Machine::new(0);
    let out = m.alloc(36).unwrap();
    let r = m.launch(&module, "k", [1; 3], [2, 1, 1], 100, &[Arg::Ptr(out)]).unwrap();
    assert!(r.is_clean(), "the reserved region is not checked: {:#?}", r.problems);
    // 16 static + 100 dynamic bytes (%total_smem_size counts 128-byte units); the reserved
    // KiB after them, 16-byte aligned.
    assert_eq!(u32s(&m, out, 9), [128, 1152, 1024, 128, 640, 128, 1152, 100, 42]);
}

#[test]
fn cooperative_groups_tiles_of_64_use_the_reserved_region() {
    // cg::tiled_partition<64> keeps its scratch at %reserved_smem_offset_1 (globals.cu), and
    // its shuffles use the funnel shift `shf`.
    let module = kernels("globals.ptx");
    let ins: Vec<i32> = (0..128).map(|i| (i * 7) % 23 - 11).collect();
    for seed in 0..4 {
        let mut m = Machine::new(seed);
        let inp = m.alloc(512).unwrap();
        m.write(inp, &ins.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let out = m.alloc(8).unwrap();
        let args = [Arg::Ptr(inp), Arg::Ptr(out)];
        let r = m.launch(&module, "tile_sum", [1; 3], [128, 1, 1], 0, &args).unwrap();
        assert!(r.is_clean(), "seed {seed}: {:#?}", r.problems);
        let got: Vec<i32> = u32s(&m, out, 2).into_iter().map(|v| v as i32).collect();
        assert_eq!(got, [ins[..64].iter().sum::<i32>(), ins[64..].iter().sum::<i32>()]);
    }
}
