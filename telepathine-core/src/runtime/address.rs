//! Turning what users write (`1.2.3.4:9000`, `[::1]:9000`, `host:9000`, `:9000`) into socket
//! addresses, resolving hostnames through the runtime and never panicking.

use std::net::{IpAddr, SocketAddr};

use super::error::Error;
use super::traits::Runtime;

fn bad(input: &str, reason: &'static str) -> Error {
    Error::BadAddress {
        input: input.to_string(),
        reason,
    }
}

/// An IP literal with a port: `a.b.c.d:port` or `[v6]:port`.
pub(crate) fn parse_literal(input: &str) -> Result<SocketAddr, Error> {
    let input = input.trim();
    input.parse().map_err(|_| classify(input))
}

/// Why `input` is not a socket address literal.
fn classify(input: &str) -> Error {
    match input.rsplit_once(':') {
        None => bad(input, "missing :port"),
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => {
            bad(input, "IPv6 addresses need brackets: [addr]:port")
        }
        Some((_, port)) if port.parse::<u16>().is_err() => {
            bad(input, "port is not a number from 0 to 65535")
        }
        Some(_) => bad(input, "not an IP address literal"),
    }
}

/// Addresses for `input`, which may name a host. `:port` means `default_ip` at that port, as in
/// the original's examples. Several results are ordered with `prefer`'s family first.
pub(crate) async fn resolve<R: Runtime>(
    rt: &R,
    input: &str,
    default_ip: IpAddr,
    prefer: IpAddr,
) -> Result<Vec<SocketAddr>, Error> {
    let input = input.trim();
    if let Some(port) = input.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| bad(input, "port is not a number from 0 to 65535"))?;
        return Ok(vec![SocketAddr::new(default_ip, port)]);
    }
    if let Ok(addr) = input.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let Some((host, port)) = input.rsplit_once(':') else {
        return Err(bad(input, "missing :port"));
    };
    if host.is_empty() {
        return Err(bad(input, "missing host"));
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(classify(input));
    }
    if port.parse::<u16>().is_err() {
        return Err(bad(input, "port is not a number from 0 to 65535"));
    }
    let mut found = rt
        .resolve(input.to_string())
        .await
        .map_err(|source| Error::Resolve {
            input: input.to_string(),
            source,
        })?;
    if found.is_empty() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
        return Err(Error::Resolve {
            input: input.to_string(),
            source,
        });
    }
    found.sort_by_key(|a| a.is_ipv4() != prefer.is_ipv4());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_their_errors() {
        assert_eq!(
            parse_literal("127.0.0.1:9000").unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(
            parse_literal(" [::1]:9000 ").unwrap(),
            "[::1]:9000".parse().unwrap()
        );
        for (input, reason) in [
            ("127.0.0.1", "missing :port"),
            ("::1:9000", "IPv6 addresses need brackets: [addr]:port"),
            ("127.0.0.1:99999", "port is not a number from 0 to 65535"),
            ("example.com:80", "not an IP address literal"),
        ] {
            match parse_literal(input) {
                Err(Error::BadAddress { reason: r, .. }) => assert_eq!(r, reason, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
