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
    /// The destinations whose answer differs from the one the others are reconciled with:
    /// they lose the key, so that none keeps a value the caller was told was not stored
    /// (or misses one it was told was).
    pub(crate) differ: Vec<usize>,
    /// The destinations whose write failed: they may hold the value from before, and lose
    /// the key too.
    pub(crate) failed: Vec<usize>,
}

/// How many destinations must take a write for the call to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needed {
    /// At least this many (replicas' quorum; every side of a migration's later phase).
    AtLeast(usize),
    /// The primary, whatever the others do (the old side while reads go there).
    Primary,
}

/// The verdict on `outcomes`, one per destination. `primary` is the source of truth:
/// the destination reads go to first (the others follow in order, as reads fail over),
/// or the old side of a migration; the call answers as the first of them in that order
/// that answered. `reconcile` asks for the destinations that answered otherwise, and
/// those that failed, to lose the key (not for deletes, whose every answer leaves the key
/// gone).
pub(crate) fn decide<T>(
    mut outcomes: Vec<Result<T>>,
    primary: usize,
    needed: Needed,
    reconcile: bool,
) -> Verdict<T> {
    let count = outcomes.len();
    if count == 0 {
        return Verdict {
            answer: Err(Error::NoAvailableNodes),
            differ: Vec::new(),
            failed: Vec::new(),
        };
    }
    let primary = primary.min(count - 1);
    let failed = |outcome: &Result<T>| matches!(outcome, Err(error) if leaves_item_stale(error));
    let (answered, failures): (Vec<usize>, Vec<usize>) = (0..count)
        .map(|offset| (primary + offset) % count)
        .partition(|&index| !failed(&outcomes[index]));
    let enough = match needed {
        Needed::AtLeast(needed) => answered.len() >= needed.clamp(1, count),
        Needed::Primary => answered.first() == Some(&primary),
    };
    let reference = answered.first().copied();
    let mut differ = Vec::new();
    if let (true, Some(reference)) = (reconcile, reference) {
        differ.extend(
            answered
                .iter()
                .copied()
                .filter(|&index| !same(&outcomes[index], &outcomes[reference])),
        );
        differ.sort_unstable();
    }
    let chosen = match (enough, reference) {
        (true, Some(reference)) => reference,
        // Too few took it: the first failure, in read order.
        _ => failures.first().copied().unwrap_or(primary),
    };
    let mut failed = if reconcile { failures } else { Vec::new() };
    failed.sort_unstable();
    Verdict {
        answer: take(&mut outcomes, chosen),
        differ,
        failed,
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
        let verdict = decide(vec![Ok(1), Ok(2), Ok(3)], 1, Needed::AtLeast(3), true);
        assert_eq!(verdict.answer.unwrap(), 2);
        assert!(verdict.differ.is_empty() && verdict.failed.is_empty());
    }

    #[test]
    fn a_failure_below_the_quorum_fails_the_call() {
        let verdict = decide(vec![Ok(1), Err(lost()), Ok(3)], 0, Needed::AtLeast(3), true);
        assert!(matches!(verdict.answer, Err(Error::ConnectionLost { .. })));
        assert_eq!(verdict.failed, [1]);
        assert!(verdict.differ.is_empty(), "the others keep what they took");
        let verdict = decide(
            vec![Err(lost()), Err(lost()), Ok(3)],
            0,
            Needed::AtLeast(2),
            true,
        );
        assert!(verdict.answer.is_err());
    }

    #[test]
    fn a_failure_the_quorum_tolerates_loses_the_key() {
        let verdict = decide(vec![Ok(1), Err(lost()), Ok(3)], 1, Needed::AtLeast(2), true);
        // The read replica failed: the next one in read order answers.
        assert_eq!(verdict.answer.unwrap(), 3);
        assert_eq!(verdict.failed, [1]);
    }

    #[test]
    fn the_primary_may_be_required() {
        let verdict = decide(vec![Ok(1), Err(lost())], 0, Needed::Primary, true);
        assert_eq!(verdict.answer.unwrap(), 1);
        assert_eq!(verdict.failed, [1]);
        let verdict = decide(vec![Err(lost()), Ok(2)], 0, Needed::Primary, true);
        assert!(verdict.answer.is_err());
    }

    #[test]
    fn disagreeing_destinations_lose_the_key() {
        let outcomes = vec![Err(Error::NotStored), Ok(()), Ok(())];
        let verdict = decide(outcomes, 0, Needed::AtLeast(3), true);
        assert!(matches!(verdict.answer, Err(Error::NotStored)));
        assert_eq!(verdict.differ, [1, 2]);
        let outcomes = vec![Err(Error::Exists), Ok(()), Err(Error::NotFound)];
        let verdict = decide(outcomes, 1, Needed::AtLeast(3), true);
        assert!(verdict.answer.is_ok());
        assert_eq!(verdict.differ, [0, 2]);
    }

    #[test]
    fn deletes_are_not_reconciled() {
        let outcomes = vec![Err(Error::NotFound), Ok(())];
        let verdict = decide(outcomes, 0, Needed::AtLeast(2), false);
        assert!(matches!(verdict.answer, Err(Error::NotFound)));
        let outcomes = vec![Ok(()), Err(lost())];
        let verdict = decide(outcomes, 0, Needed::AtLeast(2), false);
        assert!(verdict.answer.is_err());
        assert!(verdict.differ.is_empty() && verdict.failed.is_empty());
    }

    #[test]
    fn one_destination_is_its_own_verdict_and_none_is_no_node() {
        let verdict = decide(
            vec![Err::<(), _>(Error::NotStored)],
            0,
            Needed::AtLeast(2),
            true,
        );
        assert!(matches!(verdict.answer, Err(Error::NotStored)));
        assert!(verdict.differ.is_empty());
        let verdict = decide(Vec::<Result<()>>::new(), 0, Needed::AtLeast(1), true);
        assert!(matches!(verdict.answer, Err(Error::NoAvailableNodes)));
    }
}
