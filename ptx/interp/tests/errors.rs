//! What a user's PTX file, arguments or memory calls can get wrong is an error naming what
//! and where, never a panic and never a silent skip.

use ptx_interp::{Arg, LaunchError, Machine, MemError, Module, ProblemKind};

const HEAD: &str = ".version 8.0\n.target sm_90\n.address_size 64\n";

fn kernel(body: &str) -> String {
    format!(
        "{HEAD}.visible .entry k(.param .u64 p)\n{{\n.reg .b32 %r<4>;\n.reg .pred %p<2>;\n{body}\n\
         ret;\n}}\n.visible .entry other(.param .u64 p)\n{{\nret;\n}}\n"
    )
}

fn parse_err(body: &str) -> String {
    match Module::parse(&kernel(body), "bad.ptx") {
        Ok(_) => panic!("{body:?} should not parse"),
        Err(e) => e.to_string(),
    }
}

/// Parses (the instruction is kept), then fails the launch of the entry that reaches it.
fn launch_err(body: &str) -> String {
    let module =
        Module::parse(&kernel(body), "bad.ptx").unwrap_or_else(|e| panic!("{body:?}: {e}"));
    let mut m = Machine::new(0);
    let p = m.alloc(16).unwrap();
    // The other entry never reaches it and runs.
    assert!(m.launch(&module, "other", [1; 3], [32, 1, 1], 0, &[Arg::Ptr(p)]).unwrap().is_clean());
    match m.launch(&module, "k", [1; 3], [32, 1, 1], 0, &[Arg::Ptr(p)]) {
        Err(e @ LaunchError::Unsupported { .. }) => e.to_string(),
        other => panic!("{body:?} should fail as unsupported, got {other:?}"),
    }
}

#[test]
fn malformed_instructions_are_parse_errors_naming_their_line() {
    let e = parse_err("add.u32 %r0, %r9, 1;");
    assert!(e.starts_with("bad.ptx:8:") && e.contains("%r9"), "{e}");
    assert!(e.contains("not a declared register"), "{e}");
    let e = parse_err("bra NOWHERE;");
    assert!(e.contains("NOWHERE") && e.contains("not defined"), "{e}");
    let e = parse_err("add.u32 %r0, %r1 %r2;");
    assert!(e.contains("bad.ptx:8:") && e.contains("expected `,`"), "{e}");
    let e = parse_err("ld.global.u32 %r0, [%r1;");
    assert!(e.contains("bad.ptx:8:") && e.contains("`[`"), "{e}");
    assert!(Module::parse("/* never closed", "c.ptx").unwrap_err().to_string().contains("c.ptx:1"));
}

#[test]
fn instructions_the_interpreter_cannot_run_fail_only_the_launches_that_reach_them() {
    let e = launch_err("tex.1d.v4.f32.s32 {%r0, %r1, %r2, %r3}, [t, {%r0}];");
    assert!(e.contains("line 8") && e.contains("unsupported instruction `tex`"), "{e}");
    assert!(e.contains("`tex.1d.v4.f32.s32 {%r0, %r1, %r2, %r3}, [t, {%r0}]`"), "{e}");
    let e = launch_err("mov.u32 %r1, 1;\nadd.u32.sat %r0, %r1, %r1;");
    assert!(e.contains("line 9") && e.contains(".sat"), "{e}");
    let e = launch_err("vadd.u32.u32.u32 %r0, %r1, %r2, %r3;");
    assert!(e.contains("unsupported instruction `vadd`"), "{e}");
    let e = launch_err("call foo;");
    assert!(e.contains("`foo` is not a declared function"), "{e}");
    let e = launch_err("mul.u32 %r0, %r1, %r2;");
    assert!(e.contains(".lo, .hi or .wide"), "{e}");
    let e = launch_err("cvt.s32.f32 %r0, %r1;");
    assert!(e.contains(".rni"), "{e}");
    // A special register of the ISA the interpreter does not know (%perctamemorysize).
    let e = launch_err("mov.u32 %r0, %perctamemorysize;");
    assert!(e.contains("%perctamemorysize"), "{e}");
    // Guarded off, it is never reached.
    let module = Module::parse(
        &kernel("setp.eq.u32 %p1, 1, 0;\n@%p1 tex.1d.v4.f32.s32 {%r0, %r1, %r2, %r3}, [t, {%r0}];"),
        "t.ptx",
    )
    .unwrap();
    let mut m = Machine::new(0);
    assert!(m.launch(&module, "k", [1; 3], [32, 1, 1], 0, &[Arg::U64(0)]).unwrap().is_clean());
}

fn small() -> Module {
    let text = format!(
        "{HEAD}.visible .entry k(.param .u64 p, .param .f32 x)\n.maxntid 64, 1, 1\n{{\nret;\n}}\n\
         .visible .entry fixed()\n.reqntid 32, 2, 1\n{{\nret;\n}}\n.visible .entry spin()\n{{\nL:\n\
         bra L;\n}}\n"
    );
    Module::parse(&text, "small.ptx").unwrap()
}

#[test]
fn launches_that_cannot_run_are_errors_naming_the_kernel() {
    let module = small();
    assert_eq!(module.entries(), ["k", "fixed", "spin"]);
    assert_eq!(module.params("k").unwrap().len(), 2);
    let mut m = Machine::new(0);
    let p = m.alloc(16).unwrap();
    let bad = |r: Result<_, LaunchError>, want: &str| {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(want), "expected {want:?} in {e}");
    };
    bad(m.launch(&module, "nope", [1; 3], [1; 3], 0, &[]), "no entry");
    bad(m.launch(&module, "k", [1; 3], [32, 1, 1], 0, &[Arg::Ptr(p)]), "takes 2 arguments");
    bad(
        m.launch(&module, "k", [1; 3], [32, 1, 1], 0, &[Arg::F32(1.0), Arg::F32(1.0)]),
        "does not fit parameter p",
    );
    bad(m.launch(&module, "k", [1; 3], [128, 1, 1], 0, &[Arg::Ptr(p), Arg::F32(1.0)]), ".maxntid");
    bad(
        m.launch(&module, "k", [1; 3], [2048, 1, 1], 0, &[Arg::Ptr(p), Arg::F32(1.0)]),
        "over the limits",
    );
    bad(
        m.launch(&module, "k", [0, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(p), Arg::F32(1.0)]),
        "at least 1",
    );
    bad(
        m.launch(&module, "k", [1; 3], [32, 1, 1], 300_000, &[Arg::Ptr(p), Arg::F32(1.0)]),
        "shared memory",
    );
    bad(m.launch(&module, "fixed", [1; 3], [64, 1, 1], 0, &[]), ".reqntid");
    assert!(m.launch(&module, "fixed", [1; 3], [32, 2, 1], 0, &[]).unwrap().is_clean());
    m.set_instruction_limit(10_000);
    assert!(matches!(
        m.launch(&module, "spin", [1; 3], [4, 1, 1], 0, &[]),
        Err(LaunchError::InstructionLimit { .. })
    ));
}

#[test]
fn memory_calls_outside_allocations_are_errors() {
    let mut m = Machine::new(0);
    assert_eq!(m.alloc(0), Err(MemError::BadSize(0)));
    let a = m.alloc(100).unwrap();
    let b = m.alloc(100).unwrap();
    assert_eq!(a % 256, 0);
    assert!(b > a + 100 + 4096, "a gap between allocations");
    assert!(m.write(a + 90, &[0; 20]).is_err());
    assert!(m.read(a, 101).is_err());
    assert!(m.read(a - 1, 1).is_err());
    m.write(a, &[7; 100]).unwrap();
    assert_eq!(m.view(a + 10, 3).unwrap(), &[7, 7, 7]);
    m.free(a).unwrap();
    assert_eq!(m.free(a), Err(MemError::NotAllocated(a)));
    assert!(m.read(a, 1).is_err());
}

#[test]
fn reports_are_capped_and_the_same_seed_gives_the_same_report() {
    let path = format!("{}/tests/planted/shared_race.ptx", env!("CARGO_MANIFEST_DIR"));
    let module = Module::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let run = |seed: u64, cap: usize| {
        let mut m = Machine::new(seed);
        m.set_problem_cap(cap);
        let out = m.alloc(512).unwrap();
        let inp = m.alloc(512).unwrap();
        m.write(inp, &[0; 512]).unwrap();
        let sum = m.alloc(16).unwrap();
        m.write(sum, &[0; 16]).unwrap();
        m.launch(
            &module,
            "kernel",
            [2, 1, 1],
            [64, 1, 1],
            0,
            &[Arg::Ptr(out), Arg::Ptr(inp), Arg::Ptr(sum), Arg::U32(128)],
        )
        .unwrap()
    };
    let one = run(3, 1);
    assert_eq!(one.of_kind(ProblemKind::SharedRace).len(), 1);
    assert!(one.suppressed.iter().any(|(k, n)| *k == ProblemKind::SharedRace && *n > 0));
    let (a, b) = (run(5, 10), run(5, 10));
    assert_eq!(a.problems, b.problems);
    assert_eq!(a.instructions, b.instructions);
}

#[test]
fn a_machine_can_move_to_another_thread_and_a_module_can_be_shared() {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync>() {}
    send::<Machine>();
    shared::<Module>();
}

#[test]
fn tensor_core_and_shuffle_collectives_over_missing_lanes_are_reported() {
    let path = format!("{}/tests/kernels/collectives.ptx", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let module = Module::parse(&text, &path).unwrap();
    let bug_lines: Vec<u32> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("// BUG"))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let mut m = Machine::new(1);
    let d = m.alloc(1024).unwrap();
    let r = m.launch(&module, "mma_partial", [1, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(d)]).unwrap();
    let p = &r.of_kind(ProblemKind::CollectiveMask)[0];
    assert_eq!(p.site.line, bug_lines[0], "{p}");
    assert!(p.detail.contains("has exited"), "{p}");
    let r =
        m.launch(&module, "warp_partial_block", [1, 1, 1], [48, 1, 1], 0, &[Arg::Ptr(d)]).unwrap();
    let p = &r.of_kind(ProblemKind::CollectiveMask)[0];
    assert_eq!((p.site.line, p.site.thread[0] / 32), (bug_lines[1], 1), "{p}");
    assert!(p.detail.contains("does not exist"), "{p}");
}
