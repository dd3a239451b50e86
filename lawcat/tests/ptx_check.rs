//! `lawcat ptx check` with a user's inputs and outputs: buffers zeroed, read from a file or
//! given as typed lists, scalars of every type, and `--out` writing every buffer back (bytes,
//! and values for typed buffers) so a kernel's results can be compared with the user's own
//! reference; bad specifications are errors (exit 2) naming the argument.

use std::path::{Path, PathBuf};
use std::process::Command;

fn lawcat(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lawcat")).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// `y[i] = a * x[i] + y[i]` for `i < n`, f32, one thread per element.
const SAXPY: &str = r#".version 8.0
.target sm_80
.address_size 64
.visible .entry saxpy(.param .u64 y, .param .u64 x, .param .f32 a, .param .u32 n)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<5>;
    .reg .b64 %rd<8>;
    ld.param.u64 %rd1, [y];
    ld.param.u64 %rd2, [x];
    ld.param.f32 %f1, [a];
    ld.param.u32 %r1, [n];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd3, %rd1;
    cvta.to.global.u64 %rd4, %rd2;
    mul.wide.u32 %rd5, %r5, 4;
    add.s64 %rd6, %rd3, %rd5;
    add.s64 %rd7, %rd4, %rd5;
    ld.global.f32 %f2, [%rd7];
    ld.global.f32 %f3, [%rd6];
    fma.rn.f32 %f4, %f1, %f2, %f3;
    st.global.f32 [%rd6], %f4;
DONE:
    ret;
}
"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lawcat-ptx-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn saxpy(dir: &Path) -> String {
    let f = dir.join("saxpy.ptx");
    std::fs::write(&f, SAXPY).unwrap();
    f.to_string_lossy().into_owned()
}

/// `lawcat ptx check FILE --entry saxpy` with the launch flags, the arguments `y x a n` and
/// any further flags.
fn check_saxpy(file: &str, launch: &[&str], args: [&str; 4], extra: &[&str]) -> (i32, String) {
    let mut a = vec!["ptx", "check", file, "--entry", "saxpy"];
    a.extend(launch);
    for spec in args {
        a.extend(["--arg", spec]);
    }
    a.extend(extra);
    lawcat(&a)
}

#[test]
fn typed_lists_files_and_zeros_go_in_and_out_comes_back() {
    let dir = scratch("io");
    let f = saxpy(&dir);
    let out = dir.join("out");
    let o = out.to_string_lossy().into_owned();
    // y and x from lists: y = 2 x + y
    let (code, text) = check_saxpy(
        &f,
        &["--block", "8"],
        ["f32[]:1,2,3,4.5", "f32[]:0.5,0.25,-1,10", "f32:2", "u32:4"],
        &["--out", &o],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("clean") && text.contains("arg0.txt"), "{text}");
    let y = std::fs::read_to_string(out.join("arg0.txt")).unwrap();
    assert_eq!(y.lines().collect::<Vec<_>>(), ["2", "2.5", "1", "24.5"]);
    let x = std::fs::read(out.join("arg1.bin")).unwrap();
    let want: Vec<u8> = [0.5f32, 0.25, -1.0, 10.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(x, want, "x is written back unchanged");
    // y zeroed, x read from the bytes just written: y = 3 x
    let x = format!("file:{}", out.join("arg1.bin").display());
    let (code, text) =
        check_saxpy(&f, &["--block", "8"], ["zero:16", &x, "f32:3", "u32:4"], &["--out", &o]);
    assert_eq!(code, 0, "{text}");
    let y = std::fs::read(out.join("arg0.bin")).unwrap();
    let got: Vec<f32> = y.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(got, [1.5, 0.75, -3.0, 30.0]);
    // N copies: y = 1 + 1 * x with x = 7 everywhere
    let (code, text) = check_saxpy(
        &f,
        &["--grid", "2", "--block", "32"],
        ["f32[64]:1", "f32[64]:7", "f32:1", "u32:64"],
        &["--out", &o],
    );
    assert_eq!(code, 0, "{text}");
    let y = std::fs::read_to_string(out.join("arg0.txt")).unwrap();
    assert!(y.lines().all(|l| l == "8") && y.lines().count() == 64, "{y}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_too_short_list_is_an_out_of_bounds_finding() {
    let dir = scratch("short");
    let f = saxpy(&dir);
    let (code, text) =
        check_saxpy(&f, &["--block", "8"], ["f32[]:1,2,3", "f32[4]", "f32:1", "u32:4"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("out-of-bounds") && text.contains("thread (3,0,0)"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_argument_specifications_are_errors_naming_them() {
    let dir = scratch("bad");
    let f = saxpy(&dir);
    for (spec, says) in [
        ("f32[]:1,x", "\"x\" is not a f32 value"),
        ("q32[]:1", "expected one of"),
        ("f32[0]", "at least one element"),
        ("f32[2]:1,2", "not both"),
        ("i8:300", "not a valid i8 value"),
        ("file:/nonexistent/lawcat-no-such-file", "reading /nonexistent"),
        ("zero:x", "expected one of"),
    ] {
        let (code, text) =
            check_saxpy(&f, &["--block", "8"], [spec, "f32[4]", "f32:1", "u32:4"], &[]);
        assert_eq!(code, 2, "{spec}: {text}");
        assert!(text.contains(spec) && text.contains(says), "{spec}: {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
