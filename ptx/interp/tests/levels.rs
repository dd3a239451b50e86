//! Errors and notes: what the PTX ISA allows is a note (a barrier `exit` released, threads
//! writing the same value, a load of uninitialised memory whose value is never used), not an
//! error, unless the strict setting asks for the CUDA programming guide's rules. And the
//! messages: a race names both threads, an out-of-bounds address names the buffer it is
//! nearest to, or says it is in none. Kernels from `tests/kernels/globals.cu` (nvcc) and
//! hand-written PTX.

mod common;

use common::{f32s, kernels};
use ptx_interp::{Arg, Level, Machine, Module, ProblemKind};

#[test]
fn exit_before_syncthreads_is_released_by_the_isa_and_a_divergence_under_strict() {
    let module = kernels("globals.ptx");
    let n = 40usize;
    for strict in [false, true] {
        for seed in [0, 1, 2] {
            let mut m = Machine::new(seed);
            m.set_strict(strict);
            let inp = m.alloc(4 * 64).unwrap();
            let vals: Vec<f32> = (0..64).map(|i| i as f32 * 1.5).collect();
            m.write(inp, &vals.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
            let out = m.alloc(4 * 64).unwrap();
            let r = m
                .launch(
                    &module,
                    "early_exit",
                    [1, 1, 1],
                    [64, 1, 1],
                    0,
                    &[Arg::Ptr(inp), Arg::Ptr(out), Arg::U32(n as u32)],
                )
                .unwrap();
            let want: Vec<f32> = (0..n).map(|i| vals[(i + 1) % n]).collect();
            assert_eq!(f32s(&m, out, n), want);
            if strict {
                assert!(!r.is_clean());
                let d = r.of_kind(ProblemKind::BarrierDivergence);
                assert!(
                    d[0].level == Level::Error && d[0].detail.contains("24 threads"),
                    "{}",
                    d[0]
                );
                assert!(r.notes().is_empty());
            } else {
                assert!(r.is_clean(), "{:#?}", r.problems);
                let notes = r.notes();
                assert_eq!(notes.len(), 1, "{notes:#?}");
                let p = notes[0];
                assert_eq!(p.kind, ProblemKind::BarrierReleasedByExit);
                assert!(p.site.instruction.starts_with("bar.sync"), "{p}");
                assert!(p.to_string().starts_with("note: barrier-released-by-exit"), "{p}");
                assert!(p.detail.contains("40 arrived and the other 24 exited"), "{p}");
            }
        }
    }
}

const HEAD: &str = ".version 8.0\n.target sm_80\n.address_size 64\n";

#[test]
fn exits_do_not_release_a_barrier_with_a_thread_count() {
    // bar.sync 1, 64 in a block of 64 where 32 threads exit: the count is never reached (ISA
    // `exit` releases only barriers for all threads), so the block hangs: a deadlock.
    let text = format!(
        "{HEAD}.visible .entry k()\n{{\n.reg .pred %p<2>;\n.reg .b32 %r<2>;\nmov.u32 %r1, %tid.x;\n\
         setp.ge.u32 %p1, %r1, 32;\n@%p1 exit;\nbar.sync 1, 64;\nret;\n}}\n"
    );
    let module = Module::parse(&text, "count.ptx").unwrap();
    let e = Machine::new(0).launch(&module, "k", [1; 3], [64, 1, 1], 0, &[]).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("deadlock") && s.contains("32 of 64 threads wait at barrier 1"), "{s}");
    assert!(s.contains("exited threads do not arrive at a barrier with a thread count"), "{s}");
    // Under strict, the guide's rule releases it with a divergence error, as before.
    let mut m = Machine::new(0);
    m.set_strict(true);
    let r = m.launch(&module, "k", [1; 3], [64, 1, 1], 0, &[]).unwrap();
    assert_eq!(r.of_kind(ProblemKind::BarrierDivergence).len(), 1, "{:#?}", r.problems);
}

#[test]
fn same_value_writes_are_notes_and_errors_under_strict() {
    let module = kernels("globals.ptx");
    for strict in [false, true] {
        let mut m = Machine::new(4);
        m.set_strict(strict);
        let out = m.alloc(4 * 64).unwrap();
        let flag = m.alloc(4).unwrap();
        let r = m
            .launch(
                &module,
                "same_value",
                [2, 1, 1],
                [64, 1, 1],
                0,
                &[Arg::Ptr(out), Arg::Ptr(flag)],
            )
            .unwrap();
        let shared = r.of_kind(ProblemKind::SameValueWrites);
        assert_eq!(shared.len(), 2, "one shared, one global: {:#?}", r.problems);
        assert!(r.of_kind(ProblemKind::SharedRace).is_empty(), "{:#?}", r.problems);
        assert!(r.of_kind(ProblemKind::GlobalRace).is_empty(), "{:#?}", r.problems);
        for p in &shared {
            assert!(p.detail.contains("benign under the ISA's memory model"), "{p}");
            assert_eq!(p.level, if strict { Level::Error } else { Level::Note });
        }
        assert_eq!(r.is_clean(), !strict);
        assert!(m.read(out, 256).unwrap().chunks(4).all(|c| c == [1, 0, 0, 0]));
    }
}

/// The (block, thread) a race report names as the other party.
fn other_party(detail: &str) -> ([u32; 3], [u32; 3]) {
    let nums = |s: &str| -> [u32; 3] {
        let v: Vec<u32> = s.split(',').map(|x| x.trim().parse().unwrap()).collect();
        [v[0], v[1], v[2]]
    };
    let t = detail.split("by thread (").nth(1).unwrap();
    let thread = nums(t.split(')').next().unwrap());
    let b = t.split("of block (").nth(1).unwrap();
    (nums(b.split(')').next().unwrap()), thread)
}

#[test]
fn different_values_are_a_race_naming_two_different_threads() {
    let module = kernels("globals.ptx");
    let mut m = Machine::new(1);
    m.set_problem_cap(100);
    let out = m.alloc(4 * 64).unwrap();
    let r = m.launch(&module, "different_values", [1; 3], [64, 1, 1], 0, &[Arg::Ptr(out)]).unwrap();
    let races = r.of_kind(ProblemKind::SharedRace);
    assert!(!races.is_empty() && !r.is_clean(), "{:#?}", r.problems);
    for p in races {
        assert_ne!(other_party(&p.detail), (p.site.block, p.site.thread), "{p}");
    }
}

#[test]
fn a_write_after_many_reads_names_a_reader_other_than_the_writer() {
    // Thread 0 initialises s; after the barrier every thread reads it, then writes it with
    // no barrier: each write conflicts with another thread's read (the readers are
    // summarised, and the writer was one of them).
    let text = format!(
        "{HEAD}.visible .entry k()\n{{\n.shared .align 4 .u32 s;\n.reg .pred %p<2>;\n\
         .reg .b32 %r<3>;\nmov.u32 %r1, %tid.x;\nsetp.ne.u32 %p1, %r1, 0;\n\
         @!%p1 st.shared.u32 [s], 5;\n\
         bar.sync 0;\nld.shared.u32 %r2, [s];\nst.shared.u32 [s], %r1;\nret;\n}}\n"
    );
    let module = Module::parse(&text, "readers.ptx").unwrap();
    for seed in 0..8 {
        let mut m = Machine::new(seed);
        m.set_max_slice(1 + seed as u32 % 3);
        m.set_problem_cap(100);
        let r = m.launch(&module, "k", [1; 3], [64, 1, 1], 0, &[]).unwrap();
        let races = r.of_kind(ProblemKind::SharedRace);
        assert!(!races.is_empty(), "{:#?}", r.problems);
        for p in races {
            assert_ne!(other_party(&p.detail), (p.site.block, p.site.thread), "seed {seed}: {p}");
        }
    }
}

#[test]
fn out_of_bounds_names_the_nearest_buffer_or_none() {
    let text = format!(
        "{HEAD}.visible .entry k(.param .u64 a)\n{{\n.reg .b32 %r<2>;\n.reg .b64 %rd<2>;\n\
         ld.param.u64 %rd1, [a];\nld.global.u32 %r1, [%rd1];\nret;\n}}\n"
    );
    let module = Module::parse(&text, "oob.ptx").unwrap();
    let mut m = Machine::new(0);
    let a = m.alloc(400).unwrap();
    let b = m.alloc(64).unwrap();
    assert!(b - (a + 400) > 8192, "allocations are far apart");
    let detail = |m: &mut Machine, addr: u64| {
        let r = m.launch(&module, "k", [1; 3], [1; 3], 0, &[Arg::U64(addr)]).unwrap();
        let p = r.of_kind(ProblemKind::OutOfBounds)[0].clone();
        assert_eq!(p.address, Some(addr));
        p.detail
    };
    let d = detail(&mut m, a + 400 + 8);
    assert!(d.contains("8 bytes past the end of the 400-byte allocation at"), "{d}");
    // Just below b: named as before b, not as far past a.
    let d = detail(&mut m, b - 16);
    assert!(d.contains("16 bytes before the start of the 64-byte allocation"), "{d}");
    // Straddling a's end.
    let d = detail(&mut m, a + 398);
    assert!(
        d.contains("offset 398 of the 400-byte allocation") && d.contains("runs 2 bytes"),
        "{d}"
    );
    // Far from everything.
    let d = detail(&mut m, b + (100 << 20));
    assert!(d.contains("in no buffer: the nearest, the 64-byte allocation"), "{d}");
    let d = detail(&mut m, 8);
    assert!(d.contains("null pointer"), "{d}");
    // A freed buffer is named as such.
    m.free(b).unwrap();
    let d = detail(&mut m, b + 4);
    assert!(d.contains("freed 64-byte allocation"), "{d}");
}

#[test]
fn a_load_of_uninitialised_memory_is_an_error_only_when_its_value_is_used() {
    // %r1 is loaded from never-written memory and overwritten unused (a note); %r2 is loaded
    // and stored (an error); %r3 is loaded and the thread ends without using it (a note).
    let text = format!(
        "{HEAD}.visible .entry k(.param .u64 a, .param .u64 out)\n{{\n.reg .b32 %r<4>;\n\
         .reg .b64 %rd<3>;\nld.param.u64 %rd1, [a];\nld.param.u64 %rd2, [out];\n\
         ld.global.u32 %r1, [%rd1];\nmov.u32 %r1, 3;\nld.global.u32 %r2, [%rd1+4];\n\
         add.u32 %r2, %r2, %r1;\nst.global.u32 [%rd2], %r2;\nld.global.u32 %r3, [%rd1+8];\n\
         ret;\n}}\n"
    );
    let module = Module::parse(&text, "uninit.ptx").unwrap();
    let mut m = Machine::new(0);
    let a = m.alloc(16).unwrap();
    let out = m.alloc(4).unwrap();
    let r = m.launch(&module, "k", [1; 3], [1; 3], 0, &[Arg::Ptr(a), Arg::Ptr(out)]).unwrap();
    let errs = r.errors();
    assert_eq!(errs.len(), 1, "{:#?}", r.problems);
    assert_eq!((errs[0].kind, errs[0].site.line), (ProblemKind::UninitGlobal, 12));
    let notes = r.of_kind(ProblemKind::UninitUnused);
    let mut lines: Vec<u32> = notes.iter().map(|p| p.site.line).collect();
    lines.sort();
    assert_eq!(lines, [10, 15], "{notes:#?}");
    assert!(notes.iter().all(|p| p.level == Level::Note && p.detail.contains("never used")));
}
