//! Storage for large values, reused.
//!
//! A large value is read into a buffer of its own, handed to its caller as [`Bytes`], and
//! freed when the caller drops it. Freeing and allocating a 100 KiB buffer per value is
//! costly in a process whose allocator has not grown used to such blocks: glibc gives
//! the top of its heap back to the kernel whenever 128 KiB of it is free, and the next
//! value faults every page in again (several times the cost of reading the value). So
//! the buffers come from here: the `Bytes` a caller receives gives its buffer back when
//! the last view of it is dropped, and the next value is read into it without zeroing it
//! again (it was initialised once, when first allocated).
//!
//! Buffers come in size classes, four per doubling from [`SMALLEST`] up to [`LARGEST`]:
//! a value lies at most a quarter under its buffer's size. Larger values get buffers of
//! their exact size, freed as usual. At most [`RETAINED`] bytes wait here, shared by all
//! of a client's connections (whichever thread drops a value, its buffer is found by the
//! next read on any thread).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// The smallest value read into a buffer from here (smaller ones are read with their
/// reply, through the connection's read buffer).
pub(crate) const SMALLEST: usize = 64 * 1024;
/// The largest buffer kept for reuse.
const LARGEST: usize = 4 * 1024 * 1024;
/// Size classes per doubling.
const STEPS: usize = 4;
const CLASSES: usize = (LARGEST.ilog2() - SMALLEST.ilog2()) as usize * STEPS + 1;
/// The most bytes waiting for reuse at once.
const RETAINED: usize = 8 * 1024 * 1024;

/// Buffers waiting for the next large value; shared by a client's connections.
#[derive(Debug, Default)]
pub(crate) struct ValueBuffers {
    free: Mutex<Free>,
}

#[derive(Debug, Default)]
struct Free {
    classes: [Vec<Vec<u8>>; CLASSES],
    retained: usize,
}

impl ValueBuffers {
    /// Storage for a data block of `len` bytes: initialised, and at least `len` long.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let Some((class, size)) = size_class(len) else {
            return vec![0; len];
        };
        let reused = {
            let mut free = self.lock();
            let buffer = free.classes[class].pop();
            if let Some(buffer) = &buffer {
                free.retained -= buffer.len();
            }
            buffer
        };
        // A fresh buffer is zeroed once, here; safe code may read only into initialised
        // memory. Large zeroed allocations come from the kernel as they are.
        reused.unwrap_or_else(|| vec![0; size])
    }

    /// The first `len` bytes of `storage` (from [`ValueBuffers::take`]) as `Bytes`, whose
    /// storage comes back here once the last view of it is dropped.
    pub(crate) fn lend(self: &Arc<Self>, storage: Vec<u8>, len: usize) -> Bytes {
        Bytes::from_owner(Lent {
            storage,
            len,
            home: Arc::downgrade(self),
        })
    }

    fn give_back(&self, storage: Vec<u8>) {
        let Some((class, size)) = size_class(storage.len()) else {
            return;
        };
        // Only buffers this pool made (exactly a class's size) are kept.
        if size != storage.len() {
            return;
        }
        let mut free = self.lock();
        if free.retained + size <= RETAINED {
            free.retained += size;
            free.classes[class].push(storage);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Free> {
        // A buffer list is consistent at every step; a poisoned lock is usable.
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The storage behind a large value's `Bytes`.
struct Lent {
    storage: Vec<u8>,
    len: usize,
    /// Weak: values outliving their client free their storage as usual.
    home: std::sync::Weak<ValueBuffers>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.storage[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.give_back(std::mem::take(&mut self.storage));
        }
    }
}

/// The class and buffer size for a block of `len` bytes; `None` past [`LARGEST`].
fn size_class(len: usize) -> Option<(usize, usize)> {
    if len > LARGEST {
        return None;
    }
    let len = len.max(SMALLEST);
    // The doubling `len` lies in, and the step between classes within it.
    let doubling = len.ilog2();
    let step = (1usize << doubling) / STEPS;
    let steps = len.div_ceil(step);
    let class = (doubling - SMALLEST.ilog2()) as usize * STEPS + (steps - STEPS);
    Some((class, steps * step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_lie_at_most_a_quarter_over_the_block() {
        assert_eq!(size_class(1), Some((0, SMALLEST)));
        assert_eq!(size_class(SMALLEST), Some((0, SMALLEST)));
        assert_eq!(size_class(SMALLEST + 1), Some((1, SMALLEST + SMALLEST / 4)));
        assert_eq!(size_class(100 * 1024 + 2), Some((3, 112 * 1024)));
        assert_eq!(size_class(2 * SMALLEST), Some((4, 2 * SMALLEST)));
        assert_eq!(size_class(LARGEST), Some((CLASSES - 1, LARGEST)));
        assert_eq!(size_class(LARGEST + 1), None);
        let mut last = size_class(SMALLEST).unwrap();
        for len in (SMALLEST..=LARGEST).step_by(997) {
            let (class, size) = size_class(len).unwrap();
            assert!(size >= len && size - len <= len / 4, "{len} in {size}");
            assert!(class >= last.0 && class < CLASSES);
            // One size per class.
            if class == last.0 {
                assert_eq!(size, last.1);
            }
            last = (class, size);
        }
    }

    #[test]
    fn a_dropped_value_gives_its_storage_to_the_next() {
        let buffers = Arc::new(ValueBuffers::default());
        let storage = buffers.take(100_000);
        assert_eq!(storage.len(), 112 * 1024);
        let address = storage.as_ptr();
        let value = buffers.lend(storage, 100_000);
        assert_eq!(value.len(), 100_000);
        let view = value.slice(10..20);
        drop(value);
        // A view still holds it.
        let other = buffers.take(100_000);
        assert_ne!(other.as_ptr(), address);
        drop(view);
        let reused = buffers.take(100_001);
        assert_eq!(reused.as_ptr(), address);
    }

    #[test]
    fn retains_a_bounded_amount() {
        let buffers = Arc::new(ValueBuffers::default());
        let values: Vec<Bytes> = (0..RETAINED / LARGEST + 2)
            .map(|_| buffers.lend(buffers.take(LARGEST), LARGEST))
            .collect();
        drop(values);
        assert_eq!(buffers.lock().retained, RETAINED);
        // Exact-size buffers past the largest class are never kept.
        drop(buffers.lend(buffers.take(LARGEST + 1), LARGEST + 1));
        assert_eq!(buffers.lock().retained, RETAINED);
    }

    #[test]
    fn values_outlive_their_client() {
        let buffers = Arc::new(ValueBuffers::default());
        let value = buffers.lend(buffers.take(SMALLEST), 3);
        drop(buffers);
        assert_eq!(value.len(), 3);
    }
}
