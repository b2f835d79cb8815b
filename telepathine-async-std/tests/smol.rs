//! The shared conformance suite (`telepathine_core::runtime::conformance`) on smol.
#![cfg(feature = "smol")]

telepathine_core::conformance_tests!(telepathine_async_std::smol::Smol, smol::block_on);
