//! One answer from the answers of several destinations of a write: how many must have
//! taken it, whose answer the caller gets, and which destinations must lose the key
//! because they now disagree with that answer.

use std::mem::discriminant;

use crate::error::{Error, Result};
use crate::observe::write_failures::leaves_item_stale;

/// What a route does with a key after a write that several destinations answered.
#[derive(Debug)]
pub(crate) struct Verdict<T> {
    /// The call's answer.
    pub(crate) answer: Result<T>,
    /// The destinations whose answer differs from the call's: they lose the key, so that
    /// none keeps a value the caller was told was not stored (or the reverse).
    pub(crate) invalidate: Vec<usize>,
}

/// The verdict on `outcomes`, one per destination: `primary` is the destination reads go
/// to, `needed` how many must have taken the write (answered, whatever the answer), and
/// with `any_success` (a `cas`) the call succeeds where one destination took it.
/// `reconcile` asks for the destinations that answered otherwise to be invalidated.
pub(crate) fn decide<T>(
    mut outcomes: Vec<Result<T>>,
    primary: usize,
    needed: usize,
    any_success: bool,
    reconcile: bool,
) -> Verdict<T> {
    let failed = |outcome: &Result<T>| matches!(outcome, Err(error) if leaves_item_stale(error));
    let answered: Vec<usize> = (0..outcomes.len())
        .filter(|&index| !failed(&outcomes[index]))
        .collect();
    if answered.len() < needed || answered.is_empty() {
        // Too few took it: the primary's failure if it failed, else the first one.
        let chosen = if failed(&outcomes[primary]) {
            primary
        } else {
            (0..outcomes.len())
                .find(|&index| failed(&outcomes[index]))
                .unwrap_or(primary)
        };
        return Verdict {
            answer: take(&mut outcomes, chosen),
            invalidate: Vec::new(),
        };
    }
    let primary_answered = answered.contains(&primary);
    let preferred = if primary_answered {
        primary
    } else {
        answered[0]
    };
    let chosen = if any_success && outcomes[preferred].is_err() {
        answered
            .iter()
            .copied()
            .find(|&index| outcomes[index].is_ok())
            .unwrap_or(preferred)
    } else {
        preferred
    };
    let invalidate = if reconcile {
        answered
            .iter()
            .copied()
            .filter(|&index| index != chosen && !same(&outcomes[index], &outcomes[chosen]))
            .collect()
    } else {
        Vec::new()
    };
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
        let verdict = decide(vec![Ok(1), Ok(2), Ok(3)], 1, 3, false, true);
        assert_eq!(verdict.answer.unwrap(), 2);
        assert!(verdict.invalidate.is_empty());
    }

    #[test]
    fn a_failure_below_the_quorum_fails_the_call() {
        let verdict = decide(vec![Ok(1), Err(lost()), Ok(3)], 0, 3, false, true);
        assert!(matches!(verdict.answer, Err(Error::ConnectionLost { .. })));
        let verdict = decide(vec![Ok(1), Err(lost()), Ok(3)], 1, 2, false, true);
        assert_eq!(verdict.answer.unwrap(), 1);
        let verdict = decide(vec![Err(lost()), Err(lost()), Ok(3)], 0, 2, false, true);
        assert!(verdict.answer.is_err());
    }

    #[test]
    fn disagreeing_destinations_lose_the_key() {
        let outcomes = vec![Err(Error::NotStored), Ok(()), Ok(())];
        let verdict = decide(outcomes, 0, 3, false, true);
        assert!(matches!(verdict.answer, Err(Error::NotStored)));
        assert_eq!(verdict.invalidate, [1, 2]);
    }

    #[test]
    fn a_compare_and_swap_taken_anywhere_succeeds() {
        let outcomes = vec![Err(Error::Exists), Ok(()), Err(Error::NotFound)];
        let verdict = decide(outcomes, 0, 3, true, true);
        assert!(verdict.answer.is_ok());
        assert_eq!(verdict.invalidate, [0, 2]);
    }

    #[test]
    fn deletes_are_not_reconciled() {
        let outcomes = vec![Err(Error::NotFound), Ok(())];
        let verdict = decide(outcomes, 0, 2, false, false);
        assert!(matches!(verdict.answer, Err(Error::NotFound)));
        assert!(verdict.invalidate.is_empty());
    }
}
