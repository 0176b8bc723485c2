//! Identifiers of records that are listed by `(created_at, id)`.
//!
//! Creation times have the clock's resolution (a millisecond), so records made one after
//! the other can share one, and then the id decides their order. These ids are ordered
//! within the process (ULIDs from one monotonic generator; `Uuid::now_v7` for campaigns),
//! so a list shows records in the order they were made.

use std::sync::Mutex;
use ulid::{Generator, Ulid};

static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());

/// A ULID greater than every one this function returned before in this process.
pub fn ordered_ulid() -> Ulid {
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    match generator.generate() {
        Ok(id) => id,
        // 2^80 ids in one millisecond: carry into the next one.
        Err(overflow) => overflow.commit_overflow_increment(),
    }
}

/// `prefix` and an ordered ULID in lower case: the shape of event, profile and
/// destination ids (`evt_…`).
pub fn ordered_id(prefix: &str) -> String {
    format!("{prefix}{}", ordered_ulid().to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_one_after_the_other_sort_in_that_order() {
        // Thousands fall in one millisecond, where plain ULIDs are ordered at random.
        let ids: Vec<String> = (0..5_000).map(|_| ordered_id("evt_")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }

    #[test]
    fn ids_from_many_threads_never_repeat() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| ordered_ulid()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<Ulid> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
