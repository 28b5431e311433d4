//! Expiration times with the server's 30-day rule made explicit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::EncodeError;

/// When an item expires.
///
/// The wire format overloads one integer: `0` is "never", up to 30 days it is a number of
/// seconds from now, above that a Unix timestamp, and negative is "already expired". This
/// type says which one is meant, and [`Exptime::to_wire`] produces the integer that means it.
///
/// A relative duration longer than 30 days cannot be sent as-is (the server would read it as
/// a date in 1970 and drop the item at once). Turn it into an absolute time with
/// [`Exptime::resolve`], which takes the current time as a parameter: this crate never
/// reads the clock.
///
/// ```
/// use std::time::Duration;
/// use memproto::Exptime;
///
/// assert_eq!(Exptime::Never.to_wire(), Ok(0));
/// assert_eq!(Exptime::After(Duration::from_secs(60)).to_wire(), Ok(60));
/// assert_eq!(Exptime::After(Duration::ZERO).to_wire(), Ok(-1)); // expired at once
/// assert_eq!(Exptime::At(1_900_000_000).to_wire(), Ok(1_900_000_000));
///
/// let ninety_days = Exptime::After(Duration::from_secs(90 * 86_400));
/// assert!(ninety_days.to_wire().is_err());
/// let now = 1_800_000_000;
/// assert_eq!(ninety_days.resolve(now).to_wire(), Ok(1_800_000_000 + 90 * 86_400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Exptime {
    /// The item never expires (it can still be evicted).
    #[default]
    Never,
    /// The item expires this long from now. Fractions of a second round up; zero means the
    /// item is expired at once.
    After(Duration),
    /// The item expires at this Unix time, in seconds. A time at or before 30 days after the
    /// epoch is in the past and is sent as "already expired".
    At(u64),
}

impl Exptime {
    /// The longest relative expiration the server accepts as relative: 30 days, in seconds.
    pub const MAX_RELATIVE_SECS: u64 = 60 * 60 * 24 * 30;

    /// The wire value for "expired at once".
    const EXPIRED: i32 = -1;

    /// An absolute expiration at `time`. Times before the Unix epoch mean "already expired".
    pub fn at(time: SystemTime) -> Exptime {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        Exptime::At(secs)
    }

    /// Converts a relative expiration over 30 days into an absolute one, using `now_unix`
    /// (seconds since the epoch) as the current time. Every other value is returned as is.
    pub fn resolve(self, now_unix: u64) -> Exptime {
        match self {
            Exptime::After(duration) if ceil_secs(duration) > Self::MAX_RELATIVE_SECS => {
                Exptime::At(now_unix.saturating_add(ceil_secs(duration)))
            }
            other => other,
        }
    }

    /// Whether [`Exptime::resolve`] would change this value, that is, whether encoding it
    /// needs the current time.
    pub fn needs_clock(self) -> bool {
        matches!(self, Exptime::After(d) if ceil_secs(d) > Self::MAX_RELATIVE_SECS)
    }

    /// The integer the server expects.
    ///
    /// # Errors
    /// [`EncodeError::ExptimeNeedsClock`] for an unresolved relative time over 30 days and
    /// [`EncodeError::ExptimeOutOfRange`] for a Unix time past 2038 (the server's field is a
    /// signed 32-bit integer).
    pub fn to_wire(self) -> Result<i32, EncodeError> {
        match self {
            Exptime::Never => Ok(0),
            Exptime::After(duration) => match ceil_secs(duration) {
                0 => Ok(Self::EXPIRED),
                secs if secs <= Self::MAX_RELATIVE_SECS => Ok(secs as i32),
                secs => Err(EncodeError::ExptimeNeedsClock(secs)),
            },
            Exptime::At(secs) if secs <= Self::MAX_RELATIVE_SECS => Ok(Self::EXPIRED),
            Exptime::At(secs) => {
                i32::try_from(secs).map_err(|_| EncodeError::ExptimeOutOfRange(secs))
            }
        }
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    let whole = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

impl From<Duration> for Exptime {
    /// A relative expiration: the item expires `duration` from now.
    fn from(duration: Duration) -> Self {
        Exptime::After(duration)
    }
}

impl From<SystemTime> for Exptime {
    /// An absolute expiration at `time`.
    fn from(time: SystemTime) -> Self {
        Exptime::at(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_limit_is_inclusive() {
        let max = Duration::from_secs(Exptime::MAX_RELATIVE_SECS);
        assert_eq!(Exptime::After(max).to_wire(), Ok(2_592_000));
        let over = max + Duration::from_secs(1);
        assert_eq!(
            Exptime::After(over).to_wire(),
            Err(EncodeError::ExptimeNeedsClock(2_592_001))
        );
        assert_eq!(
            Exptime::After(over).resolve(2_000_000_000).to_wire(),
            Ok(2_002_592_001)
        );
    }

    #[test]
    fn fractions_round_up() {
        assert_eq!(Exptime::After(Duration::from_millis(1)).to_wire(), Ok(1));
        assert_eq!(Exptime::After(Duration::from_millis(1500)).to_wire(), Ok(2));
        let just_over = Duration::from_secs(Exptime::MAX_RELATIVE_SECS) + Duration::from_nanos(1);
        assert!(Exptime::After(just_over).needs_clock());
    }

    #[test]
    fn absolute_times_in_the_relative_range_are_expired() {
        assert_eq!(Exptime::At(0).to_wire(), Ok(-1));
        assert_eq!(Exptime::At(2_592_000).to_wire(), Ok(-1));
        assert_eq!(Exptime::At(2_592_001).to_wire(), Ok(2_592_001));
    }

    #[test]
    fn absolute_times_past_i32_are_refused() {
        assert_eq!(Exptime::At(i32::MAX as u64).to_wire(), Ok(i32::MAX));
        assert_eq!(
            Exptime::At(i32::MAX as u64 + 1).to_wire(),
            Err(EncodeError::ExptimeOutOfRange(i32::MAX as u64 + 1))
        );
        let far = Exptime::After(Duration::from_secs(u64::MAX)).resolve(1);
        assert!(matches!(
            far.to_wire(),
            Err(EncodeError::ExptimeOutOfRange(_))
        ));
    }

    #[test]
    fn system_time_before_epoch_is_expired() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(Exptime::at(before).to_wire(), Ok(-1));
    }
}
