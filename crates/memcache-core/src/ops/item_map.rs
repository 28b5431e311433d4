//! The result of a multi-key fetch: items by key, looked up with any key type.

use std::collections::hash_map::{self, HashMap};
use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;

use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::ops::item::Item;

/// The items a multi-key fetch found, by key.
///
/// A `HashMap<Bytes, Item, ItemHasher>` underneath (it derefs to one), whose lookups take
/// any key type the requests take: `found.get("user:42")`, `found.get(b"user:42")`,
/// `found.get(&key_bytes)`. (A plain `HashMap<Bytes, _>` can only be searched with `&[u8]`,
/// so a `&str` needs `.as_bytes()`.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemMap(HashMap<Bytes, Item, ItemHasher>);

/// How an [`ItemMap`] hashes its keys: a fast hasher (foldhash), seeded at random. The
/// keys are those the caller asked for (the decoder refuses an item for any other key), so
/// no server can pick keys that collide, and the default hasher would cost as much per key
/// as decoding the item does.
#[derive(Debug, Clone, Default)]
pub struct ItemHasher(foldhash::fast::RandomState);

impl BuildHasher for ItemHasher {
    type Hasher = <foldhash::fast::RandomState as BuildHasher>::Hasher;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

impl ItemMap {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        ItemMap(HashMap::with_capacity_and_hasher(
            capacity,
            ItemHasher::default(),
        ))
    }

    /// The item stored under `key`, if it was found.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&Item> {
        self.0.get(key.as_ref())
    }

    /// The value stored under `key`, if it was found.
    pub fn value(&self, key: impl AsRef<[u8]>) -> Option<&Bytes> {
        self.get(key).map(|item| &item.value)
    }

    /// Whether `key` was found.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> bool {
        self.0.contains_key(key.as_ref())
    }

    /// Takes the item stored under `key` out of the map.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Option<Item> {
        self.0.remove(key.as_ref())
    }

    /// The keys found, consuming the map.
    pub fn into_keys(self) -> hash_map::IntoKeys<Bytes, Item> {
        self.0.into_keys()
    }

    /// The items found, consuming the map.
    pub fn into_values(self) -> hash_map::IntoValues<Bytes, Item> {
        self.0.into_values()
    }

    /// The map underneath.
    pub fn into_inner(self) -> HashMap<Bytes, Item, ItemHasher> {
        self.0
    }
}

impl Deref for ItemMap {
    type Target = HashMap<Bytes, Item, ItemHasher>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for ItemMap {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<ItemMap> for HashMap<Bytes, Item> {
    fn from(map: ItemMap) -> Self {
        map.0.into_iter().collect()
    }
}

impl From<HashMap<Bytes, Item>> for ItemMap {
    fn from(map: HashMap<Bytes, Item>) -> Self {
        map.into_iter().collect()
    }
}

impl PartialEq<HashMap<Bytes, Item>> for ItemMap {
    fn eq(&self, other: &HashMap<Bytes, Item>) -> bool {
        self.0.len() == other.len()
            && self
                .0
                .iter()
                .all(|(key, item)| other.get(key) == Some(item))
    }
}

impl IntoIterator for ItemMap {
    type Item = (Bytes, Item);
    type IntoIter = hash_map::IntoIter<Bytes, Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ItemMap {
    type Item = (&'a Bytes, &'a Item);
    type IntoIter = hash_map::Iter<'a, Bytes, Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<(Bytes, Item)> for ItemMap {
    fn extend<T: IntoIterator<Item = (Bytes, Item)>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

impl FromIterator<(Bytes, Item)> for ItemMap {
    fn from_iter<T: IntoIterator<Item = (Bytes, Item)>>(iter: T) -> Self {
        ItemMap(HashMap::from_iter(iter))
    }
}

/// What a multi-key fetch with [`partial`](crate::GetManyRequest::partial) returns: the
/// items the reachable nodes had, and why each other node's share of the keys is missing.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PartialItems {
    /// The items found on the nodes that answered.
    pub items: ItemMap,
    /// Each node that failed, with its error; the keys routed to it are not in `items`.
    pub errors: Vec<(NodeAddr, Error)>,
}

impl PartialItems {
    /// Whether every node answered (the items are then complete).
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: &'static str) -> Item {
        Item::new(Bytes::from_static(value.as_bytes()))
    }

    #[test]
    fn lookups_take_any_key_type() {
        let map: ItemMap = [(Bytes::from_static(b"a"), item("1"))]
            .into_iter()
            .collect();
        assert_eq!(map.value("a"), Some(&Bytes::from_static(b"1")));
        assert_eq!(map.get(b"a"), Some(&item("1")));
        assert_eq!(map.get(String::from("a")), Some(&item("1")));
        assert_eq!(map.get(Bytes::from_static(b"a")), Some(&item("1")));
        assert!(map.contains_key(&b"a"[..]));
        assert!(map.get("b").is_none());
        // The HashMap's own API is there too.
        assert_eq!(map.len(), 1);
        assert_eq!(map.keys().next(), Some(&Bytes::from_static(b"a")));
    }

    #[test]
    fn converts_to_and_from_a_hash_map() {
        let mut map = ItemMap::default();
        map.insert(Bytes::from_static(b"k"), item("v"));
        let plain: HashMap<Bytes, Item> = map.clone().into();
        assert_eq!(map, plain);
        assert_eq!(ItemMap::from(plain.clone()), plain);
        assert_eq!(map.remove("k"), Some(item("v")));
        assert!(map.is_empty());
    }
}
