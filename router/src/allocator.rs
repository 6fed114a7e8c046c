//! The router's allocator: mimalloc instead of glibc's malloc, tuned to give memory back.
//!
//! The profile of `make bench` showed a quarter of the router's CPU in glibc malloc/free
//! (arena locks between the runtime's threads); mimalloc roughly doubles the throughput at 4
//! concurrent deliveries. By default mimalloc commits whole arenas and purges freed memory
//! after a delay, which doubled the peak RSS under load; both are turned off before the first
//! allocation. A value given in the environment (MIMALLOC_ARENA_EAGER_COMMIT,
//! MIMALLOC_PURGE_DELAY) is kept.

use libmimalloc_sys::{mi_option_set, mi_option_t};
use mimalloc::MiMalloc;

// mimalloc v2's option numbers (mimalloc.h, enum mi_option_e); the crate
// names only some of them.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
const PURGE_DELAY: mi_option_t = 15;

/// Runs from `.init_array` ahead of mimalloc's own constructor (prioritised sections run
/// first), so the options are in place before mimalloc reads the environment and makes its
/// first arena. An option set in the environment is left alone.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00100")]
static TUNE_FIRST: extern "C" fn() = tune;

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
extern "C" fn tune() {
    for (option, var) in [
        (ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT"),
        (PURGE_DELAY, c"MIMALLOC_PURGE_DELAY"),
    ] {
        // SAFETY: getenv reads the environment without allocating; mi_option_set stores a
        // plain integer.
        unsafe {
            if libc::getenv(var.as_ptr()).is_null() {
                mi_option_set(option, 0);
            }
        }
    }
}

/// The global allocator: mimalloc.
pub type Tuned = MiMalloc;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_options_are_set_before_main_unless_the_environment_sets_them() {
        for (option, var) in [
            (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT"),
            (PURGE_DELAY, "MIMALLOC_PURGE_DELAY"),
        ] {
            if std::env::var_os(var).is_none() {
                // SAFETY: reads a plain integer option.
                assert_eq!(unsafe { libmimalloc_sys::mi_option_get(option) }, 0, "{var}");
            }
        }
    }
}
