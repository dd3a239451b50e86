//! The program's standard output. Every command prints through [`write_out`] (the `outln!`
//! and `out!` macros), never `println!`, which panics when the write fails: a reader that
//! closed the pipe (`lawcat inspect M | head -c1`) stops the program quietly, any other
//! failure (a full disk, `> /dev/full`) is an error naming standard output.

use std::io::Write;

/// Standard output was closed by its reader: nothing more to say, stop quietly.
#[derive(Debug)]
pub struct ClosedPipe;

impl std::fmt::Display for ClosedPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "standard output was closed")
    }
}

impl std::error::Error for ClosedPipe {}

/// Writes (and flushes, so a failure shows here and not at exit) to standard output.
pub fn write_out(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|_| out.flush()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => anyhow::Error::new(ClosedPipe),
        _ => anyhow::anyhow!("writing to standard output: {e}"),
    })
}

/// True when `e` (or what it wraps) is a closed standard output.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<ClosedPipe>()
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
