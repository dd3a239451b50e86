//! Learning-rate schedules: the rate for update number `step` (0 for the first update).

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    Constant,
    /// Linear warm-up from `base / warmup` to `base` over `warmup` updates, then cosine
    /// decay to `base * min_ratio` at update `total`, and flat after.
    WarmupCosine {
        warmup: u64,
        total: u64,
        min_ratio: f64,
    },
}

impl LrSchedule {
    pub fn lr(&self, base: f64, step: u64) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::WarmupCosine { warmup, total, min_ratio } => {
                if step < warmup {
                    return base * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                let min = base * min_ratio;
                min + (base - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule::WarmupCosine { warmup: 10, total: 110, min_ratio: 0.1 };
        assert!((s.lr(1.0, 0) - 0.1).abs() < 1e-12);
        assert!((s.lr(1.0, 9) - 1.0).abs() < 1e-12);
        assert!((s.lr(1.0, 10) - 1.0).abs() < 1e-12);
        assert!((s.lr(1.0, 60) - 0.55).abs() < 1e-12);
        assert!((s.lr(1.0, 110) - 0.1).abs() < 1e-12);
        assert!((s.lr(1.0, 500) - 0.1).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.lr(0.3, 99), 0.3);
    }
}
