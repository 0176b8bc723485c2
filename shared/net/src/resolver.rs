//! The operating system's name resolver behind the guard's [`Resolver`] port.

use reelforge_core::guard::Resolver;
use std::net::IpAddr;
use std::time::Duration;

/// The operating system resolver (`tokio::net::lookup_host`), bounded by a timeout so a slow
/// DNS server cannot hold a request open.
#[derive(Debug, Clone, Copy)]
pub struct SystemResolver {
    pub timeout: Duration,
}

impl Default for SystemResolver {
    fn default() -> Self {
        SystemResolver {
            timeout: Duration::from_secs(2),
        }
    }
}

#[async_trait::async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        let lookup = tokio::net::lookup_host((host, port));
        match tokio::time::timeout(self.timeout, lookup).await {
            Ok(addrs) => Ok(addrs?.map(|sa| sa.ip()).collect()),
            Err(_elapsed) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "name resolution timed out",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[tokio::test]
    async fn system_resolver_handles_literals() {
        assert_eq!(SystemResolver::default().timeout, Duration::from_secs(2));
        let r = SystemResolver::default();
        let v4 = r.resolve("127.0.0.1", 80).await.expect("literal resolves");
        assert_eq!(v4, vec![IpAddr::from([127, 0, 0, 1])]);
        let v6 = r.resolve("::1", 443).await.expect("literal resolves");
        assert_eq!(v6, vec![IpAddr::from(Ipv6Addr::LOCALHOST)]);
    }
}
