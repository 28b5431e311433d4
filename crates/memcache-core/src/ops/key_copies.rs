//! Owned copies of a call's keys, for the map a multi-key call returns.

use bytes::Bytes;

/// Keys copied once into one buffer of which each key is a view: one allocation per call
/// rather than one per key. (A key kept from the result keeps the others' few bytes alive
/// with it.)
pub(crate) struct KeyCopies {
    all: Bytes,
    /// Each key's place in `all`, by the position it was given under (empty for positions
    /// given no key).
    spans: Vec<(usize, usize)>,
}

impl KeyCopies {
    /// Copies of `keys`, each given with its position (below `positions`).
    pub(crate) fn new<'k>(
        positions: usize,
        keys: impl IntoIterator<Item = (usize, &'k [u8])> + Clone,
    ) -> Self {
        let len = keys.clone().into_iter().map(|(_, key)| key.len()).sum();
        let mut all = Vec::with_capacity(len);
        let mut spans = vec![(0, 0); positions];
        for (position, key) in keys {
            spans[position] = (all.len(), all.len() + key.len());
            all.extend_from_slice(key);
        }
        KeyCopies {
            all: all.into(),
            spans,
        }
    }

    /// The key given at `position`.
    pub(crate) fn at(&self, position: usize) -> Bytes {
        let (start, end) = self.spans[position];
        self.all.slice(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_a_view_of_one_copy() {
        let keys: [&[u8]; 3] = [b"alpha", b"", b"gamma"];
        let copies = KeyCopies::new(4, [(0, keys[0]), (1, keys[1]), (3, keys[2])]);
        assert_eq!(&copies.at(0)[..], b"alpha");
        assert_eq!(&copies.at(1)[..], b"");
        assert_eq!(&copies.at(2)[..], b"");
        assert_eq!(&copies.at(3)[..], b"gamma");
        assert_eq!(copies.at(3).as_ptr(), copies.at(0)[5..].as_ptr());
    }
}
