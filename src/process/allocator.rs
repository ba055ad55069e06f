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

/// Return whole free pages inside the heaps to the system. After a burst,
/// the transient allocations of the backlog (the client's messages) leave
/// free memory between live blocks, which glibc only returns from a heap's
/// top; without this, RSS stays at the burst's peak.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages; no pointer is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Apply the settings; call before starting threads.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's tuning parameters; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD_BYTES);
    }
}
