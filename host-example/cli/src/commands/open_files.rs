//! The limit on open files: `run --tenants` holds a few files per tenant at once.

/// Files one tenant may hold open at once: its state directory's lock, its sink and
/// ack log, a record being written, and the directories synced after them.
const FILES_PER_TENANT: u64 = 8;

/// Raises the soft limit on open files towards what `tenants` tenants may need, up to
/// the hard limit, which a process may do without privileges. Where it cannot, the
/// limit stays, and a tenant that runs out of files fails with the system's error.
pub fn raise_limit(tenants: usize) {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        let wanted = (tenants as u64)
            .saturating_mul(FILES_PER_TENANT)
            .saturating_add(1024);
        if limit.rlim_cur >= wanted as libc::rlim_t {
            return;
        }
        limit.rlim_cur = (wanted as libc::rlim_t).min(limit.rlim_max);
        // SAFETY: `limit` holds a soft limit no higher than the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            tracing::warn!("could not raise the limit on open files");
        }
    }
    #[cfg(not(unix))]
    let _ = tenants;
}
