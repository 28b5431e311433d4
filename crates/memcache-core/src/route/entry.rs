//! Where a routed client's multi-key requests enter its route.

use crate::client::fan_out::Gather;
use crate::client::unavailable::is_unavailable;
use crate::client::{CallOptions, Inner};
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::ops::batched_writes::{KeyResults, Write, WriteKind};
use crate::ops::fetch::Fetch;
use crate::ops::item_map::PartialItems;
use crate::route::call::Call;
use crate::route::many;
use crate::route::tree::Routes;

impl<R: Runtime> Inner<R> {
    /// [`Inner::retrieve_many`] through the client's `routes`: a node still unavailable
    /// once the route looked everywhere it may answers its keys as misses when `miss` and
    /// the client say so.
    pub(crate) async fn retrieve_routed(
        &self,
        routes: &Routes<R>,
        fetch: Fetch,
        keys: &[&[u8]],
        options: CallOptions,
        gather: Gather,
        miss: bool,
    ) -> Result<PartialItems> {
        let call = Call::start(self, options);
        let mut found = many::read(&routes.root, fetch, keys, &call).await?;
        if miss && call.miss_on_unavailable {
            found.errors.retain(|(_, error)| {
                let unavailable = is_unavailable(error);
                if unavailable {
                    routes.count_unavailable_miss(error);
                }
                !unavailable
            });
        }
        match (gather, found.errors.first()) {
            (Gather::Strict, Some((_, error))) => Err(error.clone()),
            _ => Ok(found),
        }
    }

    /// [`Inner::write_many`] through the client's `routes`.
    pub(crate) async fn write_routed(
        &self,
        routes: &Routes<R>,
        kind: WriteKind,
        items: &[Write<'_>],
        options: CallOptions,
    ) -> Result<KeyResults> {
        let call = Call::start(self, options);
        many::write(&routes.root, kind, items, &call).await
    }
}
