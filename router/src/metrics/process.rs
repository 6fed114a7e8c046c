//! Process figures for VEBA's expvar keys in /stats: the load average (`system.lastLoad`,
//! `system.allLoad`) and `memstats` with the closest Linux figures to Go's runtime.MemStats
//! (resident and anonymous memory from /proc/self/status), read when /stats is asked for.

use serde_json::{json, Value};

/// The 1, 5 and 15 minute load averages (/proc/loadavg).
pub fn load_average() -> Option<(f64, f64, f64)> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// A field of /proc/self/status in bytes (`VmRSS:  1234 kB`).
fn status_bytes(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// Go's MemStats names with this process's nearest figures: `Sys` the resident set, `Alloc`,
/// `HeapAlloc` and `HeapInuse` the anonymous resident memory (the heap and stacks), and
/// `PeakSys` (an addition) the highest resident set so far. Go-only counters (GC, lookups) are
/// not invented.
pub fn memstats() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status_bytes(&status, "VmRSS").unwrap_or(0);
    let anon = status_bytes(&status, "RssAnon").unwrap_or(0);
    json!({
        "Alloc": anon,
        "HeapAlloc": anon,
        "HeapInuse": anon,
        "Sys": rss,
        "PeakSys": status_bytes(&status, "VmHWM").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_figures_are_read() {
        let (one, five, fifteen) = load_average().expect("/proc/loadavg");
        assert!(one >= 0.0 && five >= 0.0 && fifteen >= 0.0);
        let m = memstats();
        assert!(m["Sys"].as_u64().unwrap() > 1024 * 1024, "{m}");
        assert!(m["HeapInuse"].as_u64().unwrap() > 0, "{m}");
        assert!(m["PeakSys"].as_u64().unwrap() >= m["Sys"].as_u64().unwrap(), "{m}");
        assert_eq!(status_bytes("VmRSS:\t  12 kB\n", "VmRSS"), Some(12 * 1024));
    }
}
