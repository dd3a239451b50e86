//! How much memory the machine can give, so that sizes from a file or a flag that could
//! never fit are refused with an error before anything is allocated (an allocation that
//! fails aborts the process; one that is merely huge makes the machine swap to death).

use crate::{Error, Result};

/// Memory available to this process now, in bytes: `MemAvailable` plus free swap from
/// `/proc/meminfo` (Linux); `None` where that cannot be read.
pub fn available_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |key: &str| -> Option<u128> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kb: u128 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    };
    Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
}

/// Bytes as a short human-readable size ("3.2 GiB").
pub fn human(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// An error when `bytes` (a lower bound of what `what` needs) exceeds the memory available.
/// Unknown availability (not Linux) lets everything through but sizes no address space
/// can hold.
pub fn check_fits(what: &str, bytes: u128) -> Result<()> {
    let limit = available_bytes().unwrap_or(u64::MAX as u128);
    if bytes > limit {
        return Err(Error::op(
            "memory",
            format!(
                "{what} needs at least {}, but only {} is available",
                human(bytes),
                human(limit)
            ),
        ));
    }
    Ok(())
}
