//! The value encodings without a server: flags packing, decimal integers, compression.

use bytes::Bytes;

use super::*;
use crate::value::flags::USER_MASK;

fn stored(value: &impl ToValue, user_flags: u32) -> (Vec<u8>, u32) {
    let config = Config::new(Vec::new());
    let encoded = value.to_value().expect("encodes");
    let stored = prepare(&encoded, user_flags, &config).expect("prepares");
    (stored.bytes.into_owned(), stored.flags)
}

#[test]
fn raw_values_are_stored_as_given_with_the_flags_untouched() {
    assert_eq!(stored(&"text", 7), (b"text".to_vec(), 7));
    assert_eq!(stored(&b"bytes", u32::MAX), (b"bytes".to_vec(), u32::MAX));
    assert_eq!(stored(&Bytes::from_static(b"b"), 0), (b"b".to_vec(), 0));
    assert_eq!(stored(&vec![1u8, 2], 0), (vec![1, 2], 0));
}

#[test]
fn integers_are_ascii_decimal_and_read_back() {
    assert_eq!(stored(&0u64, 0).0, b"0");
    assert_eq!(stored(&u64::MAX, 0).0, b"18446744073709551615");
    assert_eq!(
        stored(&i128::MIN, 0).0,
        b"-170141183460469231731687303715884105728"
    );
    let read = |bytes: &'static [u8]| decode::<i64>(Bytes::from_static(bytes), 0, 1024);
    assert_eq!(read(b"42"), Ok(42));
    assert_eq!(read(b"-42"), Ok(-42));
    // memcached's decr pads a shrinking number with spaces.
    assert_eq!(read(b"9 "), Ok(9));
    for bad in [&b""[..], b" 1", b"+1", b"1a", b"-", b"99999999999999999999"] {
        assert_eq!(
            decode::<i64>(Bytes::copy_from_slice(bad), 0, 1024),
            Err(ValueError::NotAnInteger),
            "{bad:?}"
        );
    }
    assert_eq!(
        decode::<u8>(Bytes::from_static(b"-1"), 0, 1024),
        Err(ValueError::NotAnInteger)
    );
}

#[test]
fn text_must_be_utf8() {
    assert_eq!(
        decode::<String>(Bytes::from_static(b"caf\xc3\xa9"), 0, 1024),
        Ok("café".to_owned())
    );
    assert_eq!(
        decode::<String>(Bytes::from_static(b"\xff"), 0, 1024),
        Err(ValueError::NotUtf8)
    );
}

#[test]
fn flags_hold_the_format_in_the_top_byte() {
    for format in [Format::Plain, Format::Json, Format::MessagePack] {
        for compressed in [Compressed::No, Compressed::Lz4] {
            let flags = pack_flags(0x00AB_CDEF, format, compressed).expect("fits");
            assert_eq!(flags & USER_MASK, 0x00AB_CDEF);
            assert_eq!(unpack_flags(flags), Ok((format, compressed)));
        }
    }
    // Encoded values leave the user the low 24 bits only.
    assert_eq!(
        pack_flags(0x0100_0000, Format::Json, Compressed::No),
        Err(ValueError::FlagsReserved { flags: 0x0100_0000 })
    );
    // Raw flags that use the top byte in ways no encoding does are not misread.
    for flags in [0x4000_0000, 0x8000_0000, 0x0F00_0000, 0x3000_0000] {
        assert_eq!(
            unpack_flags(flags),
            Err(ValueError::UnknownEncoding { flags })
        );
    }
}

#[test]
fn a_value_read_as_another_format_is_an_error() {
    let json = pack_flags(0, Format::Json, Compressed::No).expect("fits");
    assert_eq!(
        decode::<String>(Bytes::from_static(b"\"a\""), json, 1024),
        Err(ValueError::WrongFormat {
            expected: Format::Plain,
            found: Format::Json
        })
    );
    // Bytes take any format.
    assert_eq!(
        decode::<Bytes>(Bytes::from_static(b"\"a\""), json, 1024),
        Ok(Bytes::from_static(b"\"a\""))
    );
}

#[test]
fn raw_types_read_any_flags_as_the_bytes_stored() {
    // Flags no encoding of ours uses: all set, reserved bits, unknown format or
    // compression codes, and PHP's (type in bits 0–3, compression at 0x10, user flags in
    // bits 16–31, here 0x1000, which lands on our lz4 bit).
    for flags in [
        0xFFFF_FFFF,
        0x4000_0000,
        0x8000_0000,
        0x0F00_0000,
        0x3000_0000,
        0x1000_0000,
        0x1000_0010,
        0x1F00_0000,
    ] {
        let value = Bytes::from_static(b"not ours");
        assert_eq!(
            decode::<Bytes>(value.clone(), flags, 1024),
            Ok(value.clone()),
            "{flags:#x}"
        );
        assert_eq!(
            decode::<Vec<u8>>(value.clone(), flags, 1024),
            Ok(value.to_vec()),
            "{flags:#x}"
        );
        // Typed reads stay strict: the flags do not say these bytes are text.
        assert!(
            matches!(
                decode::<String>(value.clone(), flags, 1024),
                Err(ValueError::UnknownEncoding { .. }
                    | ValueError::Corrupt
                    | ValueError::CompressionUnavailable)
            ),
            "{flags:#x}"
        );
        assert!(decode::<u64>(value, flags, 1024).is_err(), "{flags:#x}");
    }
    assert_eq!(
        decode::<String>(Bytes::from_static(b"x"), 0xFFFF_FFFF, 1024),
        Err(ValueError::UnknownEncoding { flags: 0xFFFF_FFFF })
    );
}

#[test]
fn encoded_items_refuse_joined_bytes() {
    // Plain values, and flags that are the user's (no encoding of ours), take them.
    for flags in [0, 77, USER_MASK, 0xFFFF_FFFF, 0x4000_0000, 0x0F00_0000] {
        assert_eq!(check_joinable(flags), Ok(()), "{flags:#x}");
    }
    let encoded = |format, compressed| pack_flags(5, format, compressed).expect("fits");
    assert_eq!(
        check_joinable(encoded(Format::Json, Compressed::No)),
        Err(ValueError::Encoded {
            format: Format::Json,
            compressed: false
        })
    );
    assert_eq!(
        check_joinable(encoded(Format::Plain, Compressed::Lz4)),
        Err(ValueError::Encoded {
            format: Format::Plain,
            compressed: true
        })
    );
    assert_eq!(
        check_joinable(encoded(Format::MessagePack, Compressed::Lz4)),
        Err(ValueError::Encoded {
            format: Format::MessagePack,
            compressed: true
        })
    );
}

#[test]
fn items_compare_by_their_data_not_their_bound() {
    let item = crate::Item::new("v");
    assert_eq!(
        item.max_value_len(),
        memproto::Encoder::DEFAULT_MAX_VALUE_LEN
    );
    assert_eq!(item.clone().with_max_value_len(1), item);
}

#[test]
fn append_and_prepend_take_plain_bytes_only() {
    let text = "x".to_value().expect("encodes");
    assert_eq!(raw(&text), Ok(&b"x"[..]));
    let json = Encoded::owned(b"{}".to_vec()).with_format(Format::Json);
    assert_eq!(
        raw(&json),
        Err(ValueError::WrongFormat {
            expected: Format::Plain,
            found: Format::Json
        })
    );
}

#[cfg(feature = "serde")]
mod serde_codecs {
    use super::*;

    #[derive(Debug, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
    struct User {
        name: String,
        age: u32,
    }

    fn ada() -> User {
        User {
            name: "ada".into(),
            age: 36,
        }
    }

    #[test]
    fn json_and_msgpack_round_trip_and_name_their_format() {
        let (bytes, flags) = stored(&Json(ada()), 5);
        assert_eq!(bytes, br#"{"name":"ada","age":36}"#);
        assert_eq!(flags & USER_MASK, 5);
        let read: Json<User> = decode(Bytes::from(bytes), flags, 1024).expect("decodes");
        assert_eq!(read.0, ada());

        let (bytes, flags) = stored(&MsgPack(&ada()), 0);
        assert!(bytes.len() < 23, "MessagePack is compact: {}", bytes.len());
        let read: MsgPack<User> = decode(Bytes::from(bytes), flags, 1024).expect("decodes");
        assert_eq!(read.0, ada());
    }

    #[test]
    fn the_wrong_codec_is_a_typed_error() {
        let (bytes, flags) = stored(&Json(ada()), 0);
        assert_eq!(
            decode::<MsgPack<User>>(Bytes::from(bytes), flags, 1024),
            Err(ValueError::WrongFormat {
                expected: Format::MessagePack,
                found: Format::Json
            })
        );
        // Plain bytes that happen to be JSON are not read as JSON.
        assert!(matches!(
            decode::<Json<User>>(Bytes::from_static(b"{}"), 0, 1024),
            Err(ValueError::WrongFormat { .. })
        ));
        // JSON of another shape is a decode error, not a default value.
        let (bytes, flags) = stored(&Json("just a string"), 0);
        assert!(matches!(
            decode::<Json<User>>(Bytes::from(bytes), flags, 1024),
            Err(ValueError::Decode(_))
        ));
    }
}

#[cfg(feature = "lz4")]
mod lz4 {
    use super::*;

    fn compressing(min_size: usize) -> Config {
        let mut config = Config::new(Vec::new());
        config.compression = Some(Compression::lz4(min_size));
        config
    }

    #[test]
    fn large_values_are_compressed_and_read_back() {
        let config = compressing(100);
        let value = "abcdefgh".repeat(1000);
        let encoded = value.to_value().expect("encodes");
        let stored = prepare(&encoded, 3, &config).expect("prepares");
        assert!(stored.bytes.len() < value.len() / 10);
        assert_eq!(
            unpack_flags(stored.flags),
            Ok((Format::Plain, Compressed::Lz4))
        );
        assert_eq!(stored.flags & USER_MASK, 3);
        let read: String = decode(
            Bytes::from(stored.bytes.into_owned()),
            stored.flags,
            1 << 20,
        )
        .expect("reads");
        assert_eq!(read, value);
    }

    #[test]
    fn small_incompressible_and_top_byte_values_stay_as_they_are() {
        let config = compressing(100);
        let small = "a".repeat(99);
        let encoded = small.to_value().expect("encodes");
        assert_eq!(prepare(&encoded, 0, &config).expect("prepares").flags, 0);
        // Random-looking bytes do not shrink.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                // xorshift64: bytes with no repeats for lz4 to find.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let encoded = noise.to_value().expect("encodes");
        let stored = prepare(&encoded, 0, &config).expect("prepares");
        assert_eq!((stored.bytes.len(), stored.flags), (noise.len(), 0));
        // Raw flags using the top byte keep the value raw rather than fail.
        let large = "b".repeat(1000);
        let encoded = large.to_value().expect("encodes");
        let stored = prepare(&encoded, 0xFF00_0000, &config).expect("prepares");
        assert_eq!((stored.bytes.len(), stored.flags), (1000, 0xFF00_0000));
    }

    /// A genuine lz4 value (size prefix and block) that expands to far more than it
    /// holds: one literal, then one match of `runs` 255-byte length extensions repeating
    /// it, then the 5 literals a block ends with. About 255 bytes per byte.
    fn lz4_bomb(runs: usize) -> Vec<u8> {
        // Token: 1 literal, a match of 15 + 4 bytes and more to come; offset 1.
        let mut block = vec![0x1F, b'a', 1, 0];
        block.resize(block.len() + runs, 255);
        // The match length ends; then the last sequence, 5 literals.
        block.extend_from_slice(&[0, 0x50, b'a', b'a', b'a', b'a', b'a']);
        let size = 1 + (4 + 15 + 255 * runs) + 5;
        let mut value = u32::try_from(size).expect("fits").to_le_bytes().to_vec();
        value.extend_from_slice(&block);
        value
    }

    #[test]
    fn item_decode_is_bounded_like_get_as() {
        let lz4 = pack_flags(0, Format::Plain, Compressed::Lz4).expect("fits");
        // The construction is genuine lz4: a small one decodes.
        let small = lz4_bomb(100);
        let read = decode::<Bytes>(Bytes::from(small), lz4, 1 << 20).expect("decodes");
        assert_eq!(read.len(), 1 + 4 + 15 + 255 * 100 + 5);
        assert!(read.iter().all(|&byte| byte == b'a'));

        // 1 MiB declaring about 255 MiB is refused by the item's bound, before the
        // declared size is allocated.
        let bomb = Bytes::from(lz4_bomb(1 << 20));
        let declared = 1 + 4 + 15 + 255 * (1 << 20) + 5;
        let mut item = crate::Item::new(bomb);
        item.flags = Some(lz4);
        assert_eq!(
            item.decode::<Bytes>(),
            Err(ValueError::TooLarge {
                declared,
                max: memproto::Encoder::DEFAULT_MAX_VALUE_LEN
            })
        );
        let item = item.with_max_value_len(4096);
        assert_eq!(
            item.decode::<String>(),
            Err(ValueError::TooLarge {
                declared,
                max: 4096
            })
        );
    }

    #[test]
    fn raw_types_decompress_only_our_own_lz4_values() {
        let lz4 = pack_flags(0, Format::Plain, Compressed::Lz4).expect("fits");
        let page = "<li>item</li>".repeat(100);
        let ours = lz4_flex::block::compress_prepend_size(page.as_bytes());
        assert_eq!(
            decode::<Bytes>(Bytes::from(ours.clone()), lz4, 1 << 20),
            Ok(Bytes::from(page.clone()))
        );
        assert_eq!(
            decode::<Vec<u8>>(Bytes::from(ours), lz4, 1 << 20),
            Ok(page.into_bytes())
        );
        // A declared size over the bound is still refused: the value is ours, too large.
        let bomb = Bytes::from(lz4_bomb(1000));
        assert!(matches!(
            decode::<Bytes>(bomb, lz4, 1000),
            Err(ValueError::TooLarge { max: 1000, .. })
        ));
    }

    #[test]
    fn decompression_refuses_bombs_and_damage() {
        let lz4 = pack_flags(0, Format::Plain, Compressed::Lz4).expect("fits");
        let value = lz4_flex::block::compress_prepend_size(&vec![0u8; 100_000]);
        assert_eq!(
            decode::<Bytes>(Bytes::from(value.clone()), lz4, 1000),
            Err(ValueError::TooLarge {
                declared: 100_000,
                max: 1000
            })
        );
        // A size no block this short could expand to.
        let mut bomb = u32::MAX.to_le_bytes().to_vec();
        bomb.extend_from_slice(&[0x1F, 0, 0, 0]);
        let mut damaged = value;
        damaged.truncate(damaged.len() / 2);
        for corrupt in [bomb, damaged, b"ab".to_vec()] {
            let corrupt = Bytes::from(corrupt);
            assert_eq!(
                decode::<String>(corrupt.clone(), lz4, usize::MAX),
                Err(ValueError::Corrupt)
            );
            // No lz4 value of ours: the raw types read the bytes as stored.
            assert_eq!(
                decode::<Bytes>(corrupt.clone(), lz4, usize::MAX),
                Ok(corrupt)
            );
        }
    }
}
