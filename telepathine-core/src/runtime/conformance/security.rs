//! Private networks: strangers without the key never join, and their packets are counted.

use super::{chain, converged, eventually, fast};
use crate::runtime::{Runtime, Telepathine};
use crate::{DropReason, NetworkKey};

/// Members sharing a key converge; a node with a wrong key and one with none never join, and
/// the members count their messages as dropped.
pub async fn network_key_keeps_strangers_out<R: Runtime + Default>() {
    let rt = R::default();
    // Derived once and shared, except by node 0, which exercises the passphrase path.
    let key = NetworkKey::from_passphrase("Preshared_Network_Key", "telepathine");
    let members = chain(3, |i| {
        if i == 0 {
            fast::<R>().network_key("Preshared_Network_Key")
        } else {
            fast::<R>().network_key_derived(key.clone())
        }
    })
    .await;
    let seed = members[0].local_addr();
    let wrong: Telepathine<R> = fast::<R>()
        .network_key_derived(NetworkKey::from_bytes([7; 32], 0))
        .seeds([seed])
        .start()
        .await
        .expect("start");
    let public: Telepathine<R> = fast::<R>().seeds([seed]).start().await.expect("start");
    converged(&rt, &members).await;
    members[2].set("secret", "kept").expect("set");
    let origin = members[2].peer_name();
    eventually(&rt, "members share the key", || {
        members[..2]
            .iter()
            .all(|m| m.get_remote(&origin, "secret").is_some())
    })
    .await;
    eventually(
        &rt,
        "the seed counts the strangers' messages as dropped",
        || {
            let s = members[0].stats();
            s.dropped_for(DropReason::Forged) > 0 && s.dropped_for(DropReason::Unsealed) > 0
        },
    )
    .await;
    let strangers = [wrong.peer_name(), public.peer_name()];
    for m in &members {
        assert!(
            m.all_peers().iter().all(|p| !strangers.contains(p)),
            "{} let a stranger in",
            m.peer_name()
        );
        assert_eq!(m.all_peers().len(), 2);
    }
    assert!(wrong.all_peers().is_empty() && public.all_peers().is_empty());
    assert!(public.get_remote(&origin, "secret").is_none());
    super::stop_all(&members).await;
    super::stop_all(&[wrong, public]).await;
}
