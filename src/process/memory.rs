//! What the whole process holds in memory (its resident set), shown next
//! to the budget: the budget bounds the retained messages; this also counts
//! the flow index, buffers between the network and the UI, and the
//! allocator's free space, so the user sees the true figure.

use std::time::{Duration, Instant};

/// Resident set size in bytes; `None` where `/proc` does not say.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    #[cfg(unix)]
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    #[cfg(not(unix))]
    let size = 4096;
    u64::try_from(size).unwrap_or(4096)
}

/// The resident size, read at most once a second (a frame need not read
/// `/proc` each time).
#[derive(Default)]
pub struct ResidentSampler {
    value: Option<u64>,
    read_at: Option<Instant>,
}

impl ResidentSampler {
    const EVERY: Duration = Duration::from_secs(1);

    pub fn current(&mut self) -> Option<u64> {
        if self.read_at.is_none_or(|at| at.elapsed() >= Self::EVERY) {
            self.value = resident_bytes();
            self.read_at = Some(Instant::now());
        }
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn resident_size_follows_memory_in_use() {
        // Other tests in this process allocate and free at the same time,
        // so a difference of two readings can shrink; a block this test
        // holds written is resident whatever they do.
        let block = vec![1u8; 64 << 20];
        let resident = resident_bytes().expect("linux has /proc/self/statm");
        assert!(resident >= 64 << 20, "{resident} bytes resident");
        assert!(
            resident < 64 << 30,
            "{resident} bytes is not a plausible size"
        );
        drop(block);
    }
}
