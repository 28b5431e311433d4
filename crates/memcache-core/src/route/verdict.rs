//! One answer from the answers of several destinations of a write: how many must have
//! taken it, whose answer the caller gets, and which destinations must lose the key
//! because they may now disagree with that answer.

use std::mem::discriminant;

use crate::error::{Error, Result};
use crate::observe::write_failures::leaves_item_stale;

/// What a route does with a key after a write that several destinations answered.
#[derive(Debug)]
pub(crate) struct Verdict<T> {
    /// The call's answer.
    pub(crate) answer: Result<T>,
    /// The destinations that lose the key: those whose answer differs from the call's,
    /// so that none keeps a value the caller was told was not stored (or misses one it
    /// was told was), and those that failed, which may hold the value from before.
    pub(crate) invalidate: Vec<usize>,
}

/// The verdict on `outcomes`, one per destination: `primary` is the destination whose
/// answer the caller gets (the source of truth: where reads go, or the old side of a
/// migration), `needed` how many must have taken the write (answered, whatever the
/// answer). `reconcile` asks for destinations that answered otherwise to lose the key
/// (not for deletes, whose every answer leaves the key gone).
pub(crate) fn decide<T>(
    mut outcomes: Vec<Result<T>>,
    primary: usize,
    needed: usize,
    reconcile: bool,
) -> Verdict<T> {
    let failed = |outcome: &Result<T>| matches!(outcome, Err(error) if leaves_item_stale(error));
    let (answered, failures): (Vec<usize>, Vec<usize>) =
        (0..outcomes.len()).partition(|&index| !failed(&outcomes[index]));
    if answered.len() < needed.min(outcomes.len()) || answered.is_empty() {
        // Too few took it: the primary's failure if it failed, else the first one. What
        // each destination holds is unknown, so a write leaves the key nowhere.
        let chosen = if failed(&outcomes[primary]) {
            primary
        } else {
            failures.first().copied().unwrap_or(primary)
        };
        let invalidate = if reconcile {
            (0..outcomes.len()).collect()
        } else {
            failures
        };
        return Verdict {
            answer: take(&mut outcomes, chosen),
            invalidate,
        };
    }
    let chosen = if answered.contains(&primary) {
        primary
    } else {
        answered[0]
    };
    let mut invalidate = failures;
    if reconcile {
        invalidate.extend(
            answered
                .iter()
                .copied()
                .filter(|&index| index != chosen && !same(&outcomes[index], &outcomes[chosen])),
        );
        invalidate.sort_unstable();
    }
    Verdict {
        answer: take(&mut outcomes, chosen),
        invalidate,
    }
}

/// Whether two answers leave the item alike: both taken, or both refused for the same
/// reason.
fn same<T>(a: &Result<T>, b: &Result<T>) -> bool {
    match (a, b) {
        (Ok(_), Ok(_)) => true,
        (Err(a), Err(b)) => discriminant(a) == discriminant(b),
        _ => false,
    }
}

fn take<T>(outcomes: &mut [Result<T>], index: usize) -> Result<T> {
    std::mem::replace(&mut outcomes[index], Err(Error::Closed))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn lost() -> Error {
        Error::ConnectionLost {
            node: "n".into(),
            source: Arc::new(std::io::Error::other("reset")),
        }
    }

    #[test]
    fn every_destination_taking_it_answers_as_the_primary() {
        let verdict = decide(vec![Ok(1), Ok(2), Ok(3)], 1, 3, true);
        assert_eq!(verdict.answer.unwrap(), 2);
        assert!(verdict.invalidate.is_empty());
    }

    #[test]
    fn a_failure_below_the_quorum_fails_the_call_and_leaves_the_key_nowhere() {
        let verdict = decide(vec![Ok(1), Err(lost()), Ok(3)], 0, 3, true);
        assert!(matches!(verdict.answer, Err(Error::ConnectionLost { .. })));
        assert_eq!(verdict.invalidate, [0, 1, 2]);
        let verdict = decide(vec![Err(lost()), Err(lost()), Ok(3)], 0, 2, true);
        assert!(verdict.answer.is_err());
    }

    #[test]
    fn a_failure_the_quorum_tolerates_loses_the_key() {
        let verdict = decide(vec![Ok(1), Err(lost()), Ok(3)], 1, 2, true);
        assert_eq!(verdict.answer.unwrap(), 1);
        assert_eq!(verdict.invalidate, [1]);
    }

    #[test]
    fn disagreeing_destinations_lose_the_key() {
        let outcomes = vec![Err(Error::NotStored), Ok(()), Ok(())];
        let verdict = decide(outcomes, 0, 3, true);
        assert!(matches!(verdict.answer, Err(Error::NotStored)));
        assert_eq!(verdict.invalidate, [1, 2]);
        let outcomes = vec![Err(Error::Exists), Ok(()), Err(Error::NotFound)];
        let verdict = decide(outcomes, 1, 3, true);
        assert!(verdict.answer.is_ok());
        assert_eq!(verdict.invalidate, [0, 2]);
    }

    #[test]
    fn deletes_are_repeated_only_where_they_failed() {
        let outcomes = vec![Err(Error::NotFound), Ok(())];
        let verdict = decide(outcomes, 0, 2, false);
        assert!(matches!(verdict.answer, Err(Error::NotFound)));
        assert!(verdict.invalidate.is_empty());
        let outcomes = vec![Ok(()), Err(lost())];
        let verdict = decide(outcomes, 0, 2, false);
        assert!(verdict.answer.is_err());
        assert_eq!(verdict.invalidate, [1]);
    }

    #[test]
    fn one_destination_is_its_own_verdict() {
        let verdict = decide(vec![Err::<(), _>(Error::NotStored)], 0, 2, true);
        assert!(matches!(verdict.answer, Err(Error::NotStored)));
        assert!(verdict.invalidate.is_empty());
    }
}
