//! How busy the machine was, from `/proc/stat`: a benchmark's numbers on a shared box mean
//! little without the share of the CPUs it had, and the share its host took back (steal).

use serde::{Deserialize, Serialize};

/// The CPU time counters of `/proc/stat`'s `cpu` line (all CPUs, in ticks), and the CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub cpus: u32,
    busy: u64,
    idle: u64,
    iowait: u64,
    steal: u64,
}

impl CpuTimes {
    /// Now, or `None` where there is no `/proc/stat` to read.
    pub fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Parses `/proc/stat`: `cpu  user nice system idle iowait irq softirq steal guest
    /// guest_nice` (guest time is already counted in user and nice), and one `cpuN` line per CPU.
    pub fn parse(text: &str) -> Option<Self> {
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        let cpus = text
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        Some(Self {
            cpus: u32::try_from(cpus).unwrap_or(u32::MAX),
            busy: at(0) + at(1) + at(2) + at(5) + at(6),
            idle: at(3),
            iowait: at(4),
            steal: at(7),
        })
    }

    /// The shares of the CPUs' time from `self` to `later`.
    pub fn until(&self, later: &Self) -> Option<HostShare> {
        let d = |a: u64, b: u64| b.saturating_sub(a) as f64;
        let busy = d(self.busy, later.busy);
        let idle = d(self.idle, later.idle);
        let iowait = d(self.iowait, later.iowait);
        let steal = d(self.steal, later.steal);
        let total = busy + idle + iowait + steal;
        (total > 0.0).then(|| HostShare {
            cpus: later.cpus,
            busy: busy / total,
            idle: (idle + iowait) / total,
            steal: steal / total,
        })
    }
}

/// Measures the machine's share over a period: started at its beginning, read at its end.
#[derive(Debug, Clone, Copy)]
pub struct HostMeter(Option<CpuTimes>);

impl HostMeter {
    pub fn start() -> Self {
        Self(CpuTimes::now())
    }

    /// The shares from the start until now; `None` where `/proc/stat` could not be read.
    pub fn share(&self) -> Option<HostShare> {
        self.0.zip(CpuTimes::now()).and_then(|(a, b)| a.until(&b))
    }
}

/// Where the machine's CPU time went over a period, as shares of it (they add up to 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostShare {
    pub cpus: u32,
    /// Running anything: user, nice, system, interrupts.
    pub busy: f64,
    /// Idle or waiting for the disk.
    pub idle: f64,
    /// Taken by the hypervisor for other guests while this one had work.
    pub steal: f64,
}

impl std::fmt::Display for HostShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} CPUs, {:.1}% busy, {:.1}% idle, {:.1}% taken by the host (steal)",
            self.cpus,
            self.busy * 100.0,
            self.idle * 100.0,
            self.steal * 100.0
        )
    }
}

/// The machine's share over a run, for a report's last line.
pub fn describe(host: Option<HostShare>) -> String {
    host.map_or_else(
        || "the machine: not measured (no /proc/stat)".to_owned(),
        |h| format!("the machine: {h}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "cpu  4888116 18264 618244 3267778 83882 0 83946 107534 0 0
cpu0 2444058 9132 309122 1633889 41941 0 41973 53767 0 0
cpu1 2444058 9132 309122 1633889 41941 0 41973 53767 0 0
intr 1 2 3
ctxt 99
";
    const AFTER: &str = "cpu  4895724 18264 620568 3268384 84083 0 84555 108065 0 0
cpu0 2447862 9132 310284 1634192 42041 0 42277 54032 0 0
cpu1 2447862 9132 310284 1634192 42042 0 42278 54033 0 0
";

    #[test]
    fn the_shares_of_a_period_come_from_the_counters_difference() {
        let (Some(a), Some(b)) = (CpuTimes::parse(BEFORE), CpuTimes::parse(AFTER)) else {
            panic!("both parse");
        };
        assert_eq!(b.cpus, 2);
        let Some(s) = a.until(&b) else {
            panic!("a period with time in it");
        };
        // 60 s of a 3-hour slice at 100× on 2026-12-02: busy 7,608 user + 2,324 system + 609
        // softirq ticks, idle 606 + 201 iowait, steal 531 — 11,879 in all.
        assert!((s.busy - 10_541.0 / 11_879.0).abs() < 1e-9, "{s:?}");
        assert!((s.idle - 807.0 / 11_879.0).abs() < 1e-9, "{s:?}");
        assert!((s.steal - 531.0 / 11_879.0).abs() < 1e-9, "{s:?}");
        assert!((s.busy + s.idle + s.steal - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_period_without_time_or_a_file_without_the_cpu_line_has_no_shares() {
        let Some(a) = CpuTimes::parse(BEFORE) else {
            panic!("parses");
        };
        assert_eq!(a.until(&a), None);
        assert_eq!(CpuTimes::parse("intr 1 2 3\n"), None);
        assert_eq!(CpuTimes::parse("cpu  1 2 x 4\n"), None);
    }
}
