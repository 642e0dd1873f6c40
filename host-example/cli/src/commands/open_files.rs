//! The limit on open files: `run --tenants` holds a few files per tenant at once, and
//! runs no more tenants at a time than the limit leaves room for.

/// Files one tenant may hold open at once when its sink and ack log are files: its
/// state directory's lock, its sink and ack log, and while it writes its record a
/// temporary file, the directory's lock and the directory being synced.
pub const FILES_PER_TENANT_WITH_FILE_LOGS: u64 = 6;

/// The same when its logs are in the record's store (SQLite): its lock, and a
/// directory being synced while its state directory is made.
pub const FILES_PER_TENANT_WITH_STORED_LOGS: u64 = 2;

/// Files kept for everything else: the executable's libraries, the runtime, a shared
/// database and its write-ahead log, sockets.
const RESERVED: u64 = 512;

/// How many of `tenants` tenants, each holding up to `files_per_tenant` files, may run
/// at once: the soft limit on open files is first raised towards what all of them need,
/// up to the hard limit (which a process may do without privileges), and the tenants
/// that do not fit under it wait for a running tenant to finish.
pub fn tenants_at_once(tenants: usize, files_per_tenant: u64) -> usize {
    let wanted = (tenants as u64)
        .saturating_mul(files_per_tenant)
        .saturating_add(RESERVED);
    let limit = raise_limit(wanted);
    let fit = limit.saturating_sub(RESERVED) / files_per_tenant;
    usize::try_from(fit)
        .unwrap_or(usize::MAX)
        .clamp(1, tenants.max(1))
}

/// Raises the soft limit on open files to `wanted`, or as close as the hard limit
/// allows; returns the limit in force.
#[cfg(unix)]
// `rlim_t` is `u64` on Linux but not on every Unix: the casts are needed elsewhere.
#[allow(clippy::unnecessary_cast)]
fn raise_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return u64::MAX;
    }
    if limit.rlim_cur as u64 >= wanted {
        return limit.rlim_cur as u64;
    }
    let raised = libc::rlimit {
        rlim_cur: (wanted as libc::rlim_t).min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `raised` holds a soft limit no higher than the hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        raised.rlim_cur as u64
    } else {
        limit.rlim_cur as u64
    }
}

/// Where the platform has no such limit, every tenant runs at once.
#[cfg(not(unix))]
fn raise_limit(_wanted: u64) -> u64 {
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many tenants are asked for, at least one runs, and never more than were
    /// asked for.
    #[test]
    fn tenants_at_once_is_between_one_and_the_tenants() {
        assert_eq!(tenants_at_once(1, FILES_PER_TENANT_WITH_FILE_LOGS), 1);
        let many = tenants_at_once(10_000_000, FILES_PER_TENANT_WITH_FILE_LOGS);
        assert!((1..10_000_000).contains(&many), "{many}");
    }
}
