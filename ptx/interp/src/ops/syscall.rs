//! System calls (PTX ISA, "System Calls": `vprintf`, `malloc`, `free`), and CUDA's
//! `__assertfail`: functions a module declares (`.extern .func`) and the driver provides. A
//! `call` to one of them runs here, with the callee's parameters laid out as its declaration
//! says; the return value is written back to the first return parameter.
//!
//! * `vprintf(format, args)` formats like C's `printf`: `format` is a generic address of the
//!   format string, `args` of a buffer holding the arguments, each aligned to its size
//!   (integers of 4 bytes, or 8 with `l`/`ll`/`z`/`j`/`t`; `double` for every float; 8-byte
//!   pointers for `%s` and `%p`). The text goes to [`crate::LaunchReport::printed`] (capped
//!   at 1 MiB, CUDA's default FIFO size) and it returns the number of arguments, as CUDA's
//!   `printf` does; -1 when the format cannot be read.
//! * `malloc(size)` allocates global memory on the machine (it outlives the launch, as a
//!   device-heap allocation does) and returns its address, or 0; `free(ptr)` frees one
//!   (`free(0)` does nothing; anything else that is no live allocation is an out-of-bounds
//!   problem).
//! * `__assertfail(message, file, line, function, charSize)` is what `assert()` calls when
//!   its condition fails: the checker reports [`ProblemKind::AssertionFailed`] with the
//!   message, file, line and function, and the thread ends (on a GPU the whole kernel
//!   traps).

use super::super::check::Who;
use super::super::ctx::{self, BlockEnv};
use super::super::module::Function;
use super::super::problem::ProblemKind;
use super::super::types::Space;

/// What a system call leaves the calling thread to do.
pub enum Outcome {
    /// Continue after the `call` (return values written).
    Return,
    /// End the thread.
    ExitThread,
    /// Not a system call the interpreter knows.
    Unknown,
}

/// The system calls the interpreter runs.
pub const NAMES: &[&str] = &["vprintf", "malloc", "free", "__assertfail"];

/// Printed text beyond this is dropped.
const PRINT_LIMIT: usize = 1 << 20;

/// Runs system call `name` for `who`; `params` is the callee's parameter space (arguments
/// filled in, return values to write).
pub fn run(
    name: &str,
    decl: &Function,
    params: &mut [u8],
    env: &mut BlockEnv,
    who: Who,
) -> Outcome {
    let arg = |i: usize| -> u64 {
        let Some(p) = decl.params.get(i) else { return 0 };
        let mut w = [0u8; 8];
        let n = (p.bytes() as usize).min(8);
        w[..n].copy_from_slice(&params[p.offset as usize..p.offset as usize + n]);
        u64::from_le_bytes(w)
    };
    let result: Option<u64> = match name {
        "vprintf" => {
            let (fmt, args) = (arg(0), arg(1));
            let n = match read_cstr(env, who.thread, fmt) {
                Some(f) => {
                    let env_ref = &*env;
                    let (text, n) = format(
                        &f,
                        &mut |off, len| {
                            ctx::peek(env_ref, who.thread, args + off, len).unwrap_or_default()
                        },
                        &mut |a| read_cstr(env_ref, who.thread, a),
                    );
                    if env.printed.len() < PRINT_LIMIT {
                        env.printed.push_str(&text);
                    }
                    n as u64
                }
                None => u64::MAX,
            };
            Some(n & 0xffff_ffff)
        }
        "malloc" => Some(env.global.alloc(arg(0)).unwrap_or(0)),
        "free" => {
            let p = arg(0);
            if p != 0 && env.global.free(p).is_err() {
                let d = format!(
                    "free(0x{p:x}): not the start of a live allocation ({})",
                    env.global.describe_miss(p, 1)
                );
                env.check.out_of_bounds(who, Space::Global, p, d);
            }
            None
        }
        "__assertfail" => {
            let text = |env: &BlockEnv, a: u64| {
                read_cstr(env, who.thread, a).unwrap_or_else(|| format!("<unreadable 0x{a:x}>"))
            };
            let message = text(env, arg(0));
            let file = text(env, arg(1));
            let line = arg(2) as u32;
            let function = text(env, arg(3));
            env.check.report(
                ProblemKind::AssertionFailed,
                who,
                None,
                format!("{file}:{line}: {function}: Assertion `{message}` failed."),
            );
            return Outcome::ExitThread;
        }
        _ => return Outcome::Unknown,
    };
    if let (Some(v), Some(r)) = (result, decl.returns.first()) {
        let n = (r.bytes() as usize).min(8);
        let o = r.offset as usize;
        params[o..o + n].copy_from_slice(&v.to_le_bytes()[..n]);
    }
    Outcome::Return
}

/// The NUL-terminated string at generic address `a` (at most 64 KiB).
fn read_cstr(env: &BlockEnv, thread: u32, a: u64) -> Option<String> {
    let mut out = vec![];
    for i in 0..(1u64 << 16) {
        let b = ctx::peek(env, thread, a + i, 1)?[0];
        if b == 0 {
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.push(b);
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// C's `printf` formatting of `fmt` with arguments read by `arg(offset, len)` from the
/// argument buffer (and strings by `cstr(address)`): the text and the number of arguments.
fn format(
    fmt: &str,
    arg: &mut dyn FnMut(u64, usize) -> Vec<u8>,
    cstr: &mut dyn FnMut(u64) -> Option<String>,
) -> (String, usize) {
    let mut out = String::new();
    let mut off = 0u64;
    let mut n = 0usize;
    let mut next = |size: usize| -> u64 {
        off = off.next_multiple_of(size as u64);
        let b = arg(off, size);
        off += size as u64;
        n += 1;
        let mut w = [0u8; 8];
        w[..b.len().min(size)].copy_from_slice(&b[..b.len().min(size)]);
        u64::from_le_bytes(w)
    };
    let cs: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        if cs[i] != '%' {
            out.push(cs[i]);
            i += 1;
            continue;
        }
        i += 1;
        if cs.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let mut flags = String::new();
        while let Some(&c) = cs.get(i).filter(|c| "-+ #0".contains(**c)) {
            flags.push(c);
            i += 1;
        }
        let num = |i: &mut usize, next: &mut dyn FnMut(usize) -> u64| -> Option<usize> {
            if cs.get(*i) == Some(&'*') {
                *i += 1;
                return Some(next(4) as u32 as i32 as i64 as usize);
            }
            let s = *i;
            while cs.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            cs[s..*i].iter().collect::<String>().parse().ok()
        };
        let width = num(&mut i, &mut next);
        let prec = if cs.get(i) == Some(&'.') {
            i += 1;
            Some(num(&mut i, &mut next).unwrap_or(0))
        } else {
            None
        };
        let mut long = false;
        while let Some(&c) = cs.get(i).filter(|c| "hlLqjzt".contains(**c)) {
            long |= "lLqjzt".contains(c);
            i += 1;
        }
        let Some(&conv) = cs.get(i) else { break };
        i += 1;
        let isize = if long { 8 } else { 4 };
        let body = match conv {
            'd' | 'i' => {
                let v = next(isize);
                let v = if long { v as i64 } else { v as u32 as i32 as i64 };
                let s = v.unsigned_abs().to_string();
                let s = pad_digits(s, prec);
                sign(v < 0, &flags) + &s
            }
            'u' | 'x' | 'X' | 'o' => {
                let v = next(isize);
                let v = if long { v } else { v as u32 as u64 };
                let s = match conv {
                    'u' => v.to_string(),
                    'x' => format!("{v:x}"),
                    'X' => format!("{v:X}"),
                    _ => format!("{v:o}"),
                };
                let alt = match (flags.contains('#') && v != 0, conv) {
                    (true, 'x') => "0x",
                    (true, 'X') => "0X",
                    (true, 'o') => "0",
                    _ => "",
                };
                format!("{alt}{}", pad_digits(s, prec))
            }
            'c' => ((next(4) as u8) as char).to_string(),
            's' => {
                let a = next(8);
                let s = cstr(a).unwrap_or_else(|| "(null)".into());
                match prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                }
            }
            'p' => format!("0x{:x}", next(8)),
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'a' | 'A' => {
                let v = f64::from_bits(next(8));
                sign(v.is_sign_negative() && !v.is_nan(), &flags)
                    + &float(v.abs(), conv, prec.unwrap_or(6), flags.contains('#'))
            }
            other => format!("%{other}"),
        };
        let w = width.unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out += &body;
        } else if flags.contains('-') {
            out += &body;
            out += &" ".repeat(w - len);
        } else if flags.contains('0') && !"sc".contains(conv) && prec.is_none() {
            let (sgn, digits) = body.split_at(
                body.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(0).min(body.len()),
            );
            out += sgn;
            out += &"0".repeat(w - len);
            out += digits;
        } else {
            out += &" ".repeat(w - len);
            out += &body;
        }
    }
    (out, n)
}

fn sign(neg: bool, flags: &str) -> String {
    if neg {
        "-".into()
    } else if flags.contains('+') {
        "+".into()
    } else if flags.contains(' ') {
        " ".into()
    } else {
        String::new()
    }
}

fn pad_digits(s: String, prec: Option<usize>) -> String {
    match prec {
        Some(p) if s.len() < p => "0".repeat(p - s.len()) + &s,
        _ => s,
    }
}

/// `%f`, `%e`, `%g` (and `%a` as `%e`) of a non-negative `v`.
fn float(v: f64, conv: char, prec: usize, alt: bool) -> String {
    let upper = conv.is_ascii_uppercase();
    let s = if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        "inf".to_string()
    } else {
        match conv.to_ascii_lowercase() {
            'f' => format!("{v:.prec$}"),
            'e' | 'a' => exp(v, prec),
            _ => {
                // %g: precision P significant digits (0 counts as 1); %e style when the
                // exponent X < -4 or X >= P, else %f with P - 1 - X decimals; trailing zeros
                // removed unless '#'.
                let p = prec.max(1);
                let x = if v == 0.0 {
                    0
                } else {
                    let e = exp(v, p - 1);
                    e[e.find('e').map(|i| i + 1).unwrap_or(0)..].parse::<i32>().unwrap_or(0)
                };
                let s = if x < -4 || x >= p as i32 {
                    exp(v, p - 1)
                } else {
                    format!("{v:.*}", (p as i32 - 1 - x).max(0) as usize)
                };
                if alt {
                    s
                } else {
                    trim_zeros(&s)
                }
            }
        }
    };
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

/// C's `%.{prec}e`: `d.ddde+XX` (at least two exponent digits).
fn exp(v: f64, prec: usize) -> String {
    let s = format!("{v:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn trim_zeros(s: &str) -> String {
    let (m, e) = match s.find('e') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
    format!("{m}{e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: &str, args: &[u8]) -> String {
        let a = args.to_vec();
        format(
            f,
            &mut |o, l| a.get(o as usize..o as usize + l).unwrap_or(&[]).to_vec(),
            &mut |_| Some("str".into()),
        )
        .0
    }

    #[test]
    fn printf_formats_like_c() {
        let mut b = vec![];
        b.extend(7i32.to_le_bytes());
        b.extend([0; 4]);
        b.extend(1.5f64.to_le_bytes());
        b.extend((-3i64).to_le_bytes());
        assert_eq!(fmt("x=%d y=%.2f z=%ld%%\n", &b), "x=7 y=1.50 z=-3%\n");
        assert_eq!(
            fmt("[%5d|%-4x|%05d]", &[42, 0, 0, 0, 255, 0, 0, 0, 7, 0, 0, 0]),
            "[   42|ff  |00007]"
        );
        let g: Vec<u8> =
            [0.0001f64, 123456789.0, 0.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(fmt("%g %g %g", &g), "0.0001 1.23457e+08 0.5");
        assert_eq!(fmt("%e", &2.5f64.to_le_bytes()), "2.500000e+00");
        assert_eq!(fmt("%s!", &[0; 8]), "str!");
    }
}
