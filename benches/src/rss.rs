//! Resident set size of this process, from `/proc/self/status` (Linux).

/// The current resident set size in KiB (`VmRSS`), or `None` where `/proc` is unavailable.
pub fn rss_kib() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Tracks the peak of periodic RSS samples over a baseline.
#[derive(Clone, Copy, Debug)]
pub struct PeakRss {
    before: i64,
    peak: i64,
    every: usize,
}

impl PeakRss {
    /// Starts tracking now; [`sample`](Self::sample) reads RSS every `every` rows.
    pub fn start(every: usize) -> Self {
        let before = rss_kib().unwrap_or(0);
        PeakRss { before, peak: before, every: every.max(1) }
    }

    /// Called with the running row count; samples RSS every `every` rows.
    pub fn sample(&mut self, rows: usize) {
        if rows.is_multiple_of(self.every) {
            self.sample_now();
        }
    }

    /// Samples RSS now.
    pub fn sample_now(&mut self) {
        if let Some(r) = rss_kib() {
            self.peak = self.peak.max(r);
        }
    }

    /// Peak minus baseline, in KiB.
    pub fn growth_kib(&self) -> i64 {
        self.peak - self.before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(rss_kib().unwrap() > 0);
        }
        let mut p = PeakRss::start(2);
        p.sample(1);
        p.sample(2);
        assert!(p.growth_kib() >= 0);
    }
}
