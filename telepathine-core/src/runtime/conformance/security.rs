//! Private networks: strangers without the key, or sealing with another cipher suite, never
//! join, and their packets are counted.

use super::{chain, converged, eventually, fast};
use crate::runtime::{Runtime, Telepathine};
use crate::{Cipher, DropReason, NetworkKey};

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

/// Members sealing with AES-256-GCM-SIV converge and share state; a node holding the same key
/// bytes but sealing with the default suite never joins, and the members count its messages as
/// `wrong_cipher`.
pub async fn cipher_suite_is_chosen_and_enforced<R: Runtime + Default>() {
    let rt = R::default();
    let key = NetworkKey::from_passphrase("Preshared_Network_Key", "telepathine");
    // Node 0 chooses the suite with the builder before its passphrase; node 1 brings it in the
    // derived key. Both paths must seal the same way.
    let members = chain(2, |i| {
        if i == 0 {
            fast::<R>()
                .cipher(Cipher::Aes256GcmSiv)
                .network_key("Preshared_Network_Key")
        } else {
            fast::<R>().network_key_derived(key.clone().with_cipher(Cipher::Aes256GcmSiv))
        }
    })
    .await;
    let seed = members[0].local_addr();
    let other_suite: Telepathine<R> = fast::<R>()
        .network_key_derived(key.clone())
        .seeds([seed])
        .start()
        .await
        .expect("start");
    converged(&rt, &members).await;
    members[1].set("fast", "sealed").expect("set");
    let origin = members[1].peer_name();
    eventually(&rt, "the members share state", || {
        members[0].get_remote(&origin, "fast").is_some()
    })
    .await;
    eventually(&rt, "the seed counts the other suite's messages", || {
        members[0].stats().dropped_for(DropReason::WrongCipher) > 0
    })
    .await;
    for m in &members {
        assert_eq!(
            m.all_peers().len(),
            1,
            "{} let a stranger in",
            m.peer_name()
        );
        assert_eq!(m.stats().dropped_for(DropReason::Forged), 0);
    }
    assert!(other_suite.all_peers().is_empty());
    assert!(other_suite.get_remote(&origin, "fast").is_none());
    super::stop_all(&members).await;
    super::stop_all(&[other_suite]).await;
}
