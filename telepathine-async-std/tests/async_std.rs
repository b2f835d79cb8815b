//! The shared conformance suite (`telepathine_core::runtime::conformance`) on async-std.
#![cfg(feature = "async-std")]

telepathine_core::conformance_tests!(
    telepathine_async_std::async_std::AsyncStd,
    async_std::task::block_on
);
