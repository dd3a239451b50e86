//! `.func` calls as nvcc writes them (`tests/kernels/calls.cu`, compiled to `calls.ptx` by
//! the pinned nvcc): arguments and return values through `.param` space, a struct returned
//! by value, a callee's local frame, recursion, function pointers, `assert()`, `printf` and
//! the math library's slow paths; each checked against what the CUDA source computes. Then
//! hand-written PTX for the rules the ISA sets that nvcc never breaks: a call's arguments must
//! match its callee, a declared-only function must be a system call, recursion has a limit.

mod common;

use common::{f32s, i32s, kernels, upload};
use ptx_interp::{Arg, LaunchError, Machine, Module, ProblemKind};

fn fib(n: i32) -> i32 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn arguments_return_values_structs_and_local_frames() {
    let module = kernels("calls.ptx");
    for seed in [0, 1, 2] {
        let mut m = Machine::new(seed);
        m.set_max_slice(1 + seed as u32 * 7);
        let n = 40usize;
        let out = m.alloc(4 * n as u64).unwrap();
        let iout = m.alloc(4 * n as u64).unwrap();
        let fill = m.alloc(4 * n as u64).unwrap();
        let r = m
            .launch(
                &module,
                "calls",
                [1, 1, 1],
                [64, 1, 1],
                0,
                &[Arg::Ptr(out), Arg::Ptr(iout), Arg::Ptr(fill), Arg::U32(n as u32)],
            )
            .unwrap();
        assert!(r.is_clean(), "{:#?}", r.problems);
        assert!(r.problems.is_empty(), "no notes either: {:#?}", r.problems);
        for i in 0..n {
            let fi = i as f32;
            // axpb(2, i, 1) + make_pair(i, 1).b + make_pair(i, 1).c, in the kernel's order.
            let want = (2.0f32 * fi + 1.0) + 1.5 + (i as f64 * 0.25) as f32;
            assert_eq!(f32s(&m, out, n)[i], want, "out[{i}]");
            assert_eq!(i32s(&m, iout, n)[i], fib(i as i32 % 12) + 3 * i as i32, "iout[{i}]");
            assert_eq!(i32s(&m, fill, n)[i], ((i + n) & 15) as i32 * n as i32, "fill[{i}]");
        }
    }
}

#[test]
fn recursion_runs_as_deep_as_it_goes_and_runaway_recursion_is_an_error() {
    let module = kernels("calls.ptx");
    let mut m = Machine::new(3);
    let xs: Vec<i32> = (0..32).map(|i| i % 16).collect();
    let x = upload(&mut m, &xs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let r = m.launch(&module, "recurse", [1, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(x)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    assert_eq!(i32s(&m, x, 32), xs.iter().map(|&v| fib(v)).collect::<Vec<i32>>());
    // fib(40) recurses 40 deep: over a limit of 20 frames.
    m.set_call_depth_limit(20);
    m.write(x, &40i32.to_le_bytes()).unwrap();
    match m.launch(&module, "recurse", [1, 1, 1], [1, 1, 1], 0, &[Arg::Ptr(x)]) {
        Err(LaunchError::Fault { kernel, detail }) => {
            assert_eq!(kernel, "recurse");
            assert!(
                detail.contains("_Z3fibi") && detail.contains("over the limit of 20"),
                "{detail}"
            );
            assert!(detail.contains("in _Z3fibi (called from line"), "{detail}");
        }
        other => panic!("expected a call-depth fault, got {other:?}"),
    }
}

#[test]
fn a_failed_assert_names_its_message_file_and_line_and_ends_the_thread() {
    let module = kernels("calls.ptx");
    let mut m = Machine::new(0);
    // x[5] = 100 fails `assert(x[i] < n)` with n = 50; the others pass.
    let mut xs = [0i32; 32];
    xs[5] = 100;
    let x = upload(&mut m, &xs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let r = m
        .launch(&module, "asserts", [1, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(x), Arg::U32(50)])
        .unwrap();
    let a = r.of_kind(ProblemKind::AssertionFailed);
    assert_eq!(a.len(), 1, "{:#?}", r.problems);
    let p = a[0];
    assert_eq!(p.site.thread, [5, 0, 0]);
    assert!(p.detail.contains("Assertion `x[i] < n` failed"), "{p}");
    assert!(p.detail.contains("calls.cu:62") && p.detail.contains("asserts"), "{p}");
    assert!(!r.is_clean());
    // The failing thread stopped at the assert; the others went on.
    let got = i32s(&m, x, 32);
    assert_eq!(got[5], 100);
    assert!(got.iter().enumerate().all(|(i, &v)| i == 5 || v == i as i32), "{got:?}");
}

#[test]
fn printf_output_is_in_the_report() {
    let module = kernels("calls.ptx");
    let mut m = Machine::new(0);
    let xs: Vec<i32> = (0..4).map(|i| 10 * i).collect();
    let x = upload(&mut m, &xs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let r = m.launch(&module, "prints", [1, 1, 1], [4, 1, 1], 0, &[Arg::Ptr(x)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let mut lines: Vec<&str> = r.printed.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "thread 0: x=0 half=0.00",
            "thread 1: x=10 half=0.50",
            "thread 2: x=20 half=1.00",
            "thread 3: x=30 half=1.50"
        ]
    );
}

#[test]
fn math_library_slow_paths_are_calls_and_compute_the_same() {
    let module = kernels("calls.ptx");
    let mut m = Machine::new(0);
    // Large arguments take sin's Payne-Hanek reduction (a .func with a local array).
    let xs: Vec<f64> = vec![0.5, -1.25, 3.0, 1e6, 1e22, -7.5e15, 123456.789, 2.0];
    let ys: Vec<f32> = vec![0.5, 1.0, 2.0, 10.0, 1e-3, 3.5, 100.0, 0.0];
    let x = upload(&mut m, &xs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let y = upload(&mut m, &ys.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let r =
        m.launch(&module, "libm", [1, 1, 1], [8, 1, 1], 0, &[Arg::Ptr(x), Arg::Ptr(y)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    let got: Vec<f64> = m
        .read(x, 64)
        .unwrap()
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    for (i, &v) in xs.iter().enumerate() {
        let want = v.sin() + v.abs().powf(2.5);
        // CUDA's sin and pow are within 2 ulp (CUDA programming guide, "Mathematical
        // Functions"); the sum, within a few ulp of its larger term.
        let tol = 8.0 * f64::EPSILON * (v.sin().abs() + v.abs().powf(2.5));
        assert!((got[i] - want).abs() <= tol, "x = {v}: {} vs {want}", got[i]);
    }
    for (i, &v) in ys.iter().enumerate() {
        let want = v.powf(1.7);
        let got = f32s(&m, y, 8)[i];
        assert!((got - want).abs() <= 4.0 * f32::EPSILON * want.abs(), "y = {v}: {got} vs {want}");
    }
}

#[test]
fn calls_through_function_pointers() {
    let module = kernels("calls.ptx");
    let mut m = Machine::new(0);
    let xs: Vec<f32> = (0..8).map(|i| i as f32 - 3.0).collect();
    for which in [0u32, 1] {
        let x = upload(&mut m, &xs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        let r = m
            .launch(&module, "indirect", [1, 1, 1], [8, 1, 1], 0, &[Arg::Ptr(x), Arg::U32(which)])
            .unwrap();
        assert!(r.is_clean(), "{:#?}", r.problems);
        let want: Vec<f32> =
            xs.iter().map(|&v| if which == 0 { v * v } else { v * v * v }).collect();
        assert_eq!(f32s(&m, x, 8), want);
    }
}

#[test]
fn an_out_of_bounds_write_in_a_callee_names_the_function_and_its_caller() {
    let module = kernels("calls.ptx");
    let mut m = Machine::new(0);
    let out = m.alloc(4 * 20).unwrap();
    let r = m.launch(&module, "callee_oob", [1, 1, 1], [32, 1, 1], 0, &[Arg::Ptr(out)]).unwrap();
    let p = r.of_kind(ProblemKind::OutOfBounds)[0];
    assert_eq!(p.site.function.as_deref(), Some("_Z8store_atPiii"), "{p}");
    let call_line = p.site.called_from.expect("the call's line");
    let text =
        std::fs::read_to_string(format!("{}/tests/kernels/calls.ptx", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    assert!(text.lines().nth(call_line as usize - 1).unwrap().contains("call.uni"), "{p}");
    let s = p.to_string();
    assert!(s.contains("in _Z8store_atPiii (called from line"), "{s}");
    assert!(s.contains("past the end of the 80-byte allocation"), "{s}");
    assert!(p.site.thread[0] >= 20, "{p}");
}

const HEAD: &str = ".version 8.0\n.target sm_80\n.address_size 64\n";

#[test]
fn calls_that_do_not_fit_their_callee_and_undefined_callees() {
    // Two arguments to a function of one parameter: malformed, a parse error.
    let text = format!(
        "{HEAD}.func (.param .b32 r) f(.param .b32 a)\n{{\nst.param.b32 [r], 1;\nret;\n}}\n\
         .visible .entry k()\n{{\n.param .b32 p0;\n.param .b32 p1;\n.param .b32 r0;\n\
         call.uni (r0), f, (p0, p1);\nret;\n}}\n"
    );
    let e = Module::parse(&text, "bad.ptx").unwrap_err().to_string();
    assert!(e.contains("bad.ptx:14") && e.contains("passes 2 arguments, but it takes 1"), "{e}");
    // A function declared but not defined (and no system call): fails the launch reaching it.
    let text = format!(
        "{HEAD}.extern .func (.param .b32 r) elsewhere(.param .b32 a);\n.visible .entry k()\n{{\n\
         .param .b32 p0;\n.param .b32 r0;\nst.param.b32 [p0], 1;\ncall.uni (r0), elsewhere, (p0);\n\
         ret;\n}}\n"
    );
    let module = Module::parse(&text, "ext.ptx").unwrap();
    let e = Machine::new(0).launch(&module, "k", [1; 3], [1; 3], 0, &[]).unwrap_err();
    assert!(matches!(e, LaunchError::Unsupported { .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("line 10") && e.contains("elsewhere") && e.contains("does not link"), "{e}");
}

#[test]
fn return_values_in_registers_and_params_written_by_the_callee() {
    // A hand-written call in the non-ABI form (registers as arguments and return values),
    // and a `.func` that writes its own parameter before reading it back.
    let text = format!(
        "{HEAD}.func (.param .u32 r) twice(.param .u32 a)\n{{\n.reg .b32 %t;\n\
         ld.param.u32 %t, [a];\n\
         add.u32 %t, %t, %t;\nst.param.u32 [a], %t;\nld.param.u32 %t, [a];\nst.param.u32 [r], %t;\n\
         ret;\n}}\n.visible .entry k(.param .u64 out)\n{{\n.reg .b32 %r<4>;\n.reg .b64 %rd<2>;\n\
         ld.param.u64 %rd1, [out];\nmov.u32 %r1, %tid.x;\ncall (%r2), twice, (%r1);\n\
         mul.wide.u32 %rd0, %r1, 4;\nadd.u64 %rd1, %rd1, %rd0;\nst.global.u32 [%rd1], %r2;\n\
         ret;\n}}\n"
    );
    let module = Module::parse(&text, "regs.ptx").unwrap();
    let mut m = Machine::new(0);
    let out = m.alloc(4 * 8).unwrap();
    let r = m.launch(&module, "k", [1; 3], [8, 1, 1], 0, &[Arg::Ptr(out)]).unwrap();
    assert!(r.is_clean(), "{:#?}", r.problems);
    assert_eq!(i32s(&m, out, 8), (0..8).map(|i| 2 * i).collect::<Vec<i32>>());
}
