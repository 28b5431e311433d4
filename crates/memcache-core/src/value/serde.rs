//! Values serialized with serde: [`Json`] and [`MsgPack`].

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::value::codec::expect_format;
use crate::value::{Encoded, Format, FromValue, ToValue, ValueError};

/// A value stored as JSON (serde_json). Store `Json(&value)` to serialize without taking
/// it; read with `get_as::<Json<T>>` and take the value out with `.0`.
///
/// ```no_run
/// # async fn f(client: memcache_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use memcache_tokio::value::Json;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct User {
///     name: String,
/// }
///
/// let user = User { name: "ada".into() };
/// client.set("user:1", Json(&user)).await?;
/// let user: Option<Json<User>> = client.get_as("user:1").await?;
/// # let _ = user;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

/// A value stored as MessagePack with named fields (rmp-serde): smaller and faster to read
/// than JSON, and as tolerant of fields added later. Used like [`Json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MsgPack<T>(pub T);

/// `ToValue` and `FromValue` for a serde wrapper, through its format's `to_vec` and
/// `from_slice`.
macro_rules! serde_value {
    ($wrapper:ident, $format:expr, $to_vec:path, $from_slice:path) => {
        impl<T: Serialize> ToValue for $wrapper<T> {
            fn to_value(&self) -> Result<Encoded<'_>, ValueError> {
                let bytes = $to_vec(&self.0).map_err(|e| ValueError::Encode(e.to_string()))?;
                Ok(Encoded::owned(bytes).with_format($format))
            }
        }

        impl<T: DeserializeOwned> FromValue for $wrapper<T> {
            fn from_value(value: Bytes, format: Format) -> Result<Self, ValueError> {
                expect_format($format, format)?;
                $from_slice(&value)
                    .map($wrapper)
                    .map_err(|e| ValueError::Decode(e.to_string()))
            }
        }
    };
}

serde_value!(
    Json,
    Format::Json,
    serde_json::to_vec,
    serde_json::from_slice
);
serde_value!(
    MsgPack,
    Format::MessagePack,
    rmp_serde::to_vec_named,
    rmp_serde::from_slice
);
