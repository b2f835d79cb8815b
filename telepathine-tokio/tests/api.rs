//! The handle and its futures can be moved between tasks and threads, as tokio users expect.

use std::time::Duration;

use telepathine_tokio::Telepathine;

fn send_and_sync<T: Send + Sync>(_: &T) {}
fn send<T: Send>(_: &T) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_and_futures_are_send() {
    let start = Telepathine::builder()
        .gossip_interval(Duration::from_millis(100))
        .start();
    send(&start);
    let node = tokio::spawn(start).await.expect("join").expect("start");
    send_and_sync(&node);
    send(&node.stop());
    send(&node.start());
    send(&node.hear_once("x"));
    send(&node.hear("x").expect("hear"));
    let stopper = node.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::spawn(async move { stopper.stop().await }),
    )
    .await
    .expect("bounded")
    .expect("join")
    .expect("stop");
    assert!(!node.is_running());
}
