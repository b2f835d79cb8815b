//! Command-line flags, and the node builder they configure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use telepathine_tokio::{Builder, Cipher, Telepathine};

/// The environment variable that may hold the network key's passphrase.
pub const KEY_ENV: &str = "TELEPATHINE_NETWORK_KEY";

/// Runs one telepathine node: peer-to-peer key/value state and events synchronised by gossip.
///
/// Reads commands on stdin, one per line, and answers on stdout, one line each (type `help`).
/// The network key is read from --network-key-file or from the TELEPATHINE_NETWORK_KEY
/// environment variable (the file wins), never from the command line.
#[derive(Debug, Parser)]
#[command(name = "telepathine", version)]
pub struct Args {
    /// Address to bind UDP and TCP to (`ip:port`, `[v6]:port` or `host:port`; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: String,
    /// A node to contact at start (repeatable).
    #[arg(long = "seed", value_name = "ADDR")]
    pub seeds: Vec<String>,
    /// File holding the network key's passphrase (trailing newline ignored).
    #[arg(long, value_name = "PATH")]
    pub network_key_file: Option<PathBuf>,
    /// Cipher suite sealing messages on a private network: `xchacha20poly1305` (the default)
    /// or `aes256gcmsiv` (several times faster on CPUs with AES instructions, slower without).
    /// Every member must use the same suite. Needs a network key.
    #[arg(long, value_name = "SUITE", value_parser = parse_cipher)]
    pub cipher: Option<Cipher>,
    /// Cluster name; nodes of other clusters are ignored.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Send everything over TCP, binding no UDP socket.
    #[arg(long)]
    pub no_udp: bool,
    /// Milliseconds between gossip exchanges.
    #[arg(long, value_name = "MS")]
    pub gossip_interval_ms: Option<u64>,
    /// Milliseconds between heartbeats.
    #[arg(long, value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Flow control: most state bytes per second this node takes in.
    #[arg(long, value_name = "BYTES")]
    pub inbound_rate: Option<u64>,
    /// Milliseconds between exchanges with a seed (each in turn), besides ordinary gossip.
    #[arg(long, value_name = "MS")]
    pub seed_interval_ms: Option<u64>,
    /// Re-deliver every live peer's keys as set events once per heartbeat.
    #[arg(long)]
    pub emit_value_on_heartbeat: bool,
    /// NAT mapping `FROM=TO` of IP literals (repeatable).
    #[arg(long, value_name = "FROM=TO", value_parser = parse_mapping)]
    pub address_map: Vec<(String, String)>,
    /// Phi above which a silent peer is considered failed.
    #[arg(long, value_name = "PHI")]
    pub phi_threshold: Option<f64>,
    /// Milliseconds a `say` event lives when the command gives no duration.
    #[arg(long, value_name = "MS")]
    pub default_event_lifetime_ms: Option<u64>,
    /// Events each subscription buffers before dropping its oldest.
    #[arg(long, value_name = "N")]
    pub subscription_capacity: Option<usize>,
    /// Milliseconds allowed to open a TCP connection or write one frame.
    #[arg(long, value_name = "MS")]
    pub io_timeout_ms: Option<u64>,
    /// Milliseconds an unused outbound TCP connection stays open.
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Most open inbound, and most open outbound, TCP connections.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Print JSON lines instead of plain text.
    #[arg(long)]
    pub json: bool,
    /// Print every event whose name matches (repeatable): `set.<key>`, `delete.<key>`,
    /// `expired.<key>`, `say.<event>`, `peer.new|alive|dead`, `start`, `stop`; `**` for all.
    #[arg(long, value_name = "PATTERN")]
    pub watch: Vec<String>,
    /// Do not read stdin; run until SIGINT or SIGTERM (for daemons and watchers).
    #[arg(long)]
    pub no_stdin: bool,
}

/// Parses `FROM=TO`.
fn parse_mapping(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_string(), to.to_string()))
        }
        _ => Err(format!("expected FROM=TO, got {s:?}")),
    }
}

/// Parses a cipher suite's name.
fn parse_cipher(s: &str) -> Result<Cipher, String> {
    Cipher::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Cipher::ALL.iter().map(|c| c.name()).collect();
        format!("unknown cipher {s:?}: expected {}", names.join(" or "))
    })
}

/// The passphrase: from `file` if given, else from the environment's value, else none (a
/// public network). Line endings at the end of the file are not part of it.
pub fn network_key(file: Option<&Path>, env: Option<String>) -> Result<Option<String>, String> {
    let key = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read network key file {}: {e}", path.display()))?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        None => match env {
            Some(k) => k,
            None => return Ok(None),
        },
    };
    if key.is_empty() {
        return Err("the network key is empty".into());
    }
    Ok(Some(key))
}

impl Args {
    /// Refuses flags that contradict each other once the network key (`key`) is known.
    pub fn check(&self, key: Option<&str>) -> Result<(), String> {
        if self.cipher.is_some() && key.is_none() {
            // Silently sealing nothing would let the operator believe the network is private.
            return Err(format!(
                "--cipher needs a network key (--network-key-file or {KEY_ENV}); \
                 a public network seals nothing"
            ));
        }
        Ok(())
    }

    /// The node builder these flags describe, with `key` as the network key.
    pub fn builder(&self, key: Option<&str>) -> Builder {
        let ms = Duration::from_millis;
        let mut b = Telepathine::builder()
            .bind(&self.bind)
            .seeds(&self.seeds)
            .udp(!self.no_udp)
            .emit_value_on_heartbeat(self.emit_value_on_heartbeat)
            .address_map(self.address_map.iter().cloned());
        if let Some(key) = key {
            b = b.network_key(key);
        }
        if let Some(c) = self.cipher {
            b = b.cipher(c);
        }
        if let Some(c) = &self.cluster {
            b = b.cluster(c);
        }
        if let Some(v) = self.gossip_interval_ms {
            b = b.gossip_interval(ms(v));
        }
        if let Some(v) = self.heartbeat_interval_ms {
            b = b.heartbeat_interval(ms(v));
        }
        if let Some(v) = self.phi_threshold {
            b = b.phi_threshold(v);
        }
        if let Some(v) = self.inbound_rate {
            b = b.inbound_rate(v);
        }
        if let Some(v) = self.seed_interval_ms {
            b = b.seed_interval(ms(v));
        }
        if let Some(v) = self.default_event_lifetime_ms {
            b = b.default_event_lifetime(ms(v));
        }
        if let Some(v) = self.subscription_capacity {
            b = b.subscription_capacity(v);
        }
        if let Some(v) = self.io_timeout_ms {
            b = b.io_timeout(ms(v));
        }
        if let Some(v) = self.idle_timeout_ms {
            b = b.idle_timeout(ms(v));
        }
        if let Some(v) = self.max_connections {
            b = b.max_connections(v);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_parses() {
        let args = Args::try_parse_from([
            "telepathine",
            "--bind",
            "10.77.0.1:7946",
            "--seed",
            "10.77.0.2:7946",
            "--seed",
            "10.77.0.3:7946",
            "--network-key-file",
            "/tmp/key",
            "--cipher",
            "aes256gcmsiv",
            "--cluster",
            "prod",
            "--no-udp",
            "--gossip-interval-ms",
            "200",
            "--heartbeat-interval-ms",
            "300",
            "--emit-value-on-heartbeat",
            "--address-map",
            "10.0.0.1=1.2.3.4",
            "--phi-threshold",
            "6.5",
            "--inbound-rate",
            "65536",
            "--seed-interval-ms",
            "500",
            "--default-event-lifetime-ms",
            "1000",
            "--subscription-capacity",
            "10",
            "--io-timeout-ms",
            "50",
            "--idle-timeout-ms",
            "60",
            "--max-connections",
            "7",
            "--json",
            "--watch",
            "peer.*",
            "--watch",
            "say.**",
            "--no-stdin",
        ])
        .unwrap();
        assert_eq!(args.bind, "10.77.0.1:7946");
        assert_eq!(args.seeds, ["10.77.0.2:7946", "10.77.0.3:7946"]);
        assert_eq!(args.network_key_file, Some(PathBuf::from("/tmp/key")));
        assert_eq!(args.cipher, Some(Cipher::Aes256GcmSiv));
        assert_eq!(args.check(Some("key")), Ok(()));
        assert_eq!(args.cluster.as_deref(), Some("prod"));
        assert!(args.no_udp && args.emit_value_on_heartbeat && args.json && args.no_stdin);
        assert_eq!(args.gossip_interval_ms, Some(200));
        assert_eq!(args.heartbeat_interval_ms, Some(300));
        assert_eq!(
            args.address_map,
            [("10.0.0.1".to_string(), "1.2.3.4".to_string())]
        );
        assert_eq!(args.phi_threshold, Some(6.5));
        assert_eq!(args.inbound_rate, Some(65536));
        assert_eq!(args.seed_interval_ms, Some(500));
        assert_eq!(args.watch, ["peer.*", "say.**"]);
        assert_eq!(args.max_connections, Some(7));
    }

    #[test]
    fn defaults_bind_loopback_on_a_free_port() {
        let args = Args::try_parse_from(["telepathine"]).unwrap();
        assert_eq!(args.bind, "127.0.0.1:0");
        assert!(args.seeds.is_empty() && !args.no_udp && !args.json);
        assert_eq!(args.cipher, None);
        assert_eq!(args.check(None), Ok(()));
    }

    #[test]
    fn cipher_names_parse_and_unknown_ones_are_refused_by_name() {
        for (name, cipher) in [
            ("xchacha20poly1305", Cipher::XChaCha20Poly1305),
            ("aes256gcmsiv", Cipher::Aes256GcmSiv),
            ("AES256GCMSIV", Cipher::Aes256GcmSiv),
        ] {
            let args = Args::try_parse_from(["telepathine", "--cipher", name]).unwrap();
            assert_eq!(args.cipher, Some(cipher), "{name}");
        }
        let err = Args::try_parse_from(["telepathine", "--cipher", "aes-gcm"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown cipher \"aes-gcm\": expected xchacha20poly1305 or aes256gcmsiv"),
            "{err}"
        );
        // A suite without a key would seal nothing: refused rather than ignored.
        let args = Args::try_parse_from(["telepathine", "--cipher", "aes256gcmsiv"]).unwrap();
        let err = args.check(None).unwrap_err();
        assert!(err.contains("--cipher needs a network key"), "{err}");
    }

    #[test]
    fn bad_mappings_and_a_key_flag_are_refused() {
        for bad in ["1.2.3.4", "=1.2.3.4", "1.2.3.4="] {
            assert!(
                Args::try_parse_from(["telepathine", "--address-map", bad]).is_err(),
                "{bad}"
            );
        }
        // The key never goes on the command line, where `ps` would show it.
        assert!(Args::try_parse_from(["telepathine", "--network-key", "secret"]).is_err());
    }

    #[test]
    fn the_key_comes_from_the_file_first_then_the_environment() {
        let dir = std::env::temp_dir().join(format!("telepathine-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("key");
        std::fs::write(&file, "s3cret phrase\r\n").unwrap();
        assert_eq!(
            network_key(Some(&file), Some("env".into())),
            Ok(Some("s3cret phrase".into()))
        );
        assert_eq!(
            network_key(None, Some("env".into())),
            Ok(Some("env".into()))
        );
        assert_eq!(network_key(None, None), Ok(None));
        std::fs::write(&file, "\n").unwrap();
        assert!(network_key(Some(&file), None).is_err());
        assert!(network_key(Some(&dir.join("missing")), None).is_err());
        assert!(network_key(None, Some(String::new())).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
