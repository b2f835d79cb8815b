//! The shared conformance suite (`telepathine_core::runtime::conformance`) on tokio.

use std::future::Future;

/// Each test gets its own multi-threaded runtime, as an application would.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

telepathine_core::conformance_tests!(telepathine_tokio::Tokio, block_on);
