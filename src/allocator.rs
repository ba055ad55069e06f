//! Process-wide allocator settings, applied once at start-up.
//!
//! glibc trims a heap's free top as soon as it exceeds 128 KiB and grows it
//! again on the next allocation. The ingest path frees a batch's transient
//! allocations and makes the next batch's at once, so with the default the
//! network thread spends a large share of its time in `mprotect`/`brk`
//! system calls (seen with `perf record` on `benches/ingest.rs`).
//! Keeping 4 MiB of slack per heap removes that churn for a fixed cost
//! well inside the memory target (one heap per thread that allocates).

/// Slack kept at the top of each heap instead of being returned at once.
pub const TOP_PAD_BYTES: i32 = 4 << 20;

/// Apply the settings; call before starting threads.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's tuning parameters; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD_BYTES);
    }
}
