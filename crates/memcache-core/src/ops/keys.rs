//! [`keys!`](crate::keys): keys of mixed types in one array.

/// An array of keys as `&[u8]`, from expressions of any `AsRef<[u8]>` types: byte-string
/// literals of different lengths (`b"a"` and `b"bb"` are `&[u8; 1]` and `&[u8; 2]`, which
/// no array literal can mix), `&str`, `String`, `Bytes`, side by side.
///
/// ```no_run
/// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
/// use memcache_tokio::keys;
///
/// let user = String::from("user:7");
/// let found = client.get_many(keys![b"a", b"bb", "text", user]).await?;
/// client.delete_many(keys![b"a", b"bb"]).await?;
/// # let _ = found;
/// # Ok(())
/// # }
/// ```
///
/// The keys are borrowed, not moved: use the array within the statement that builds it
/// when a key is a temporary (`keys![format!("k{i}")]`), or bind such keys first.
#[macro_export]
macro_rules! keys {
    ($($key:expr),* $(,)?) => {
        [$(::core::convert::AsRef::<[u8]>::as_ref(&$key)),*]
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn mixed_keys_make_one_array() {
        let owned = String::from("owned");
        let bytes = bytes::Bytes::from_static(b"shared");
        let keys: [&[u8]; 5] = keys![b"a", b"bb", "text", owned, bytes];
        assert_eq!(keys, [&b"a"[..], b"bb", b"text", b"owned", b"shared"]);
        let none: [&[u8]; 0] = keys![];
        assert!(none.is_empty());
    }
}
