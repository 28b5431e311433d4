//! The scenario suite, written once and run on every runtime.
//!
//! Each scenario is a generic `async fn name<R: Runtime + Default>(suite: Suite)` that
//! starts its own memcached server(s) through [`crate::server`], builds a
//! `memcache_core::Client::<R>` through the [`Suite`](support::Suite) (which says what
//! protocol the client speaks), and asserts exact values and error variants. The
//! [`scenarios!`](macro@crate::scenarios) macro turns the whole list into `#[test]` functions
//! for one runtime and one protocol:
//!
//! ```text
//! fn block_on<F: std::future::Future>(future: F) -> F::Output {
//!     smol::block_on(future)
//! }
//! memcache_it::scenarios!(
//!     block_on,
//!     memcache_async_std::AsyncStdRuntime,
//!     memcache_core::Protocol::Text
//! );
//! ```
//!
//! `block_on` must be a generic function in scope at the macro call; the runtime type and
//! the protocol must be paths that resolve from a child module (absolute paths do). Tests
//! are grouped in modules named after the scenario files (`storage::cas`,
//! `cluster::node_down`).

pub mod admin;
pub mod batched;
pub mod cluster;
pub mod concurrency;
pub mod discovery;
pub mod fetch;
pub mod gutter;
pub mod input;
pub mod lifecycle;
pub mod other;
pub mod reliability;
pub mod routes;
pub mod storage;
pub mod support;
pub mod timeouts;
pub mod unix;

#[doc(hidden)]
pub use futures::future::BoxFuture;

/// Expands to one `#[test]` per scenario, each running the scenario on `$runtime` inside
/// `$block_on`, with clients speaking `$protocol`. See the
/// [module docs](mod@crate::scenarios).
#[macro_export]
macro_rules! scenarios {
    ($block_on:ident, $runtime:ty, $protocol:expr $(,)?) => {
        $crate::__scenario_tests! {
            ($block_on, $runtime, $protocol)
            storage {
                set_and_get,
                add,
                replace,
                append_prepend,
                cas,
                flags,
                exptime,
                noreply,
                noreply_default_pool,
                big_values,
                big_values_raised_limit,
                large_values_keep_their_own_storage,
                value_too_large_for_server,
            }
            fetch {
                get_and_gets,
                get_many,
                get_many_long_keys,
                gat_and_gats,
                gat_many,
                item_info,
            }
            batched {
                set_many_spreads_over_nodes,
                add_many_reports_each_key,
                delete_and_touch_many,
                batches_split_by_count_and_size,
                one_failure_hides_nothing,
                node_down_fails_only_its_keys,
                a_server_error_fails_only_its_key,
                a_full_server_hurts_no_other_caller,
            }
            other {
                incr_decr,
                touch,
                delete,
            }
            admin {
                flush_all,
                flush_all_delayed,
                version_and_stats,
                verbosity_and_memlimit,
                unknown_node,
            }
            cluster {
                spread_rendezvous,
                spread_ketama,
                spread_ketama_flavours,
                node_down,
                routing_key_keeps_items_together,
            }
            routes {
                replicas_take_every_write_and_share_the_reads,
                replicas_agree_with_the_answer,
                replicas_survive_a_dead_one,
                replicas_survive_a_stopped_one,
                replicas_fail_over_before_reading_a_miss,
                migration_phases_route_as_documented,
                migration_over_the_same_servers_writes_once,
                migration_needs_the_new_pool_once_it_reads_it,
                migration_under_load_serves_no_stale_value,
                warm_up_fills_the_cold_pool,
                routes_nest_and_expose_their_pools,
                route_configuration_is_checked,
            }
            gutter {
                gutter_takes_a_dead_nodes_requests,
                gutter_leaves_answers_and_timeouts_alone,
                gutter_configuration_is_checked,
            }
            discovery {
                discovery_follows_the_cluster,
                discovery_keeps_requests_in_flight,
                discovery_failures,
                discovery_keeps_node_health,
            }
            unix {
                unix_socket_basics,
                mixed_tcp_and_unix,
            }
            timeouts {
                blackhole_times_out,
                per_call_timeout,
                no_call_timeout_waits,
                connect_timeout,
                works_after_timeout,
                abandoned_replies_stay_in_step,
            }
            concurrency {
                many_tasks_one_client,
                pipelined_on_one_task,
                get_many_and_incr,
            }
            input {
                bad_input_is_refused,
                noreply_is_an_ordinary_key,
                binary_keys,
            }
            lifecycle {
                client_is_clone_send_sync,
                connect,
                invalid_configuration,
            }
            reliability {
                chaos_integrity,
                write_failures_are_reported,
                write_outcome_unknown_is_reported,
                connection_limit,
                server_error_keeps_connection,
                close_graceful,
                close_grace_expires,
                drop_closes_connections,
                stuck_close_delivers_written_noreply,
                close_counts_noreply_writes_never_sent,
            }
        }

        /// Scenarios that manage the runtime themselves.
        mod without_runtime {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn build_needs_no_runtime() {
                let suite = $crate::scenarios::support::Suite {
                    protocol: $protocol,
                };
                let block_on: fn($crate::scenarios::BoxFuture<'static, ()>) = super::$block_on;
                $crate::scenarios::lifecycle::build_needs_no_runtime::<$runtime>(suite, block_on);
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_tests {
    (($block_on:ident, $runtime:ty, $protocol:expr) $($module:ident { $($(#[$meta:meta])* $name:ident),* $(,)? })*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;

                $(
                    #[test]
                    $(#[$meta])*
                    fn $name() {
                        let suite = $crate::scenarios::support::Suite {
                            protocol: $protocol,
                        };
                        super::$block_on($crate::scenarios::$module::$name::<$runtime>(suite));
                    }
                )*
            }
        )*
    };
}
