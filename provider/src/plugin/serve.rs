//! The go-plugin handshake and the server: how Terraform starts the provider and talks to it.
//!
//! 1. Terraform starts the binary with `TF_PLUGIN_MAGIC_COOKIE` (checked: run by hand, the binary
//!    says what it is and exits 1), `PLUGIN_PROTOCOL_VERSIONS` (must offer 6) and
//!    `PLUGIN_CLIENT_CERT` (its certificate; required).
//! 2. The provider makes a directory only its user can open (under `PLUGIN_UNIX_SOCKET_DIR`, else
//!    the temporary directory), listens on a Unix socket in it, and prints
//!    `1|6|unix|<socket>|grpc|<its certificate>` on stdout.
//! 3. Every connection is TLS with Terraform's certificate required and pinned; gRPC runs over it:
//!    the provider protocol, go-plugin's controller (`Shutdown` ends the process cleanly) and the
//!    health check.
//!
//! SIGTERM shuts down cleanly. SIGINT is ignored, as go-plugin plugins do: Terraform forwards Ctrl-C as `StopProvider` and a
//! provider killed mid-apply would leave its work unrecorded.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use super::proto::health::{self, health_server};
use super::proto::plugin::{self as go_plugin, grpc_controller_server};
use super::proto::provider_server::ProviderServer;
use super::service::Service;
use super::Provider;

/// go-plugin's cookie for Terraform providers.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The protocol this server speaks.
const PROTOCOL: u32 = 6;
/// How long a connection may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the provider cannot serve.
#[derive(Debug)]
pub enum ServeError {
    /// Run by hand, not by Terraform.
    NotTerraform,
    Handshake(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::NotTerraform => f.write_str(
                "this binary is a Terraform provider plugin: Terraform runs it; it is not meant to be run directly",
            ),
            ServeError::Handshake(m) => write!(f, "handshake with Terraform: {m}"),
            ServeError::Io(e) => write!(f, "plugin socket: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// The longest Unix socket path Linux takes (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// What the environment of a Terraform-started provider says.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub client_cert: String,
    pub socket_dir: Option<PathBuf>,
}

impl Handshake {
    pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Handshake, ServeError> {
        if get(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(ServeError::NotTerraform);
        }
        let versions = get("PLUGIN_PROTOCOL_VERSIONS").unwrap_or_default();
        if !versions
            .split(',')
            .any(|v| v.trim().parse::<u32>() == Ok(PROTOCOL))
        {
            return Err(ServeError::Handshake(format!(
                "Terraform offers plugin protocol versions {versions:?}; this provider speaks {PROTOCOL} (Terraform 1.0 and later)"
            )));
        }
        let client_cert = get("PLUGIN_CLIENT_CERT").filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            ServeError::Handshake(
                "PLUGIN_CLIENT_CERT is not set: the provider talks only to the Terraform that started it, over mutual TLS".into(),
            )
        })?;
        Ok(Handshake {
            client_cert,
            socket_dir: get("PLUGIN_UNIX_SOCKET_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        })
    }
}

/// A TLS connection on the Unix socket, as tonic takes it.
struct Conn(tokio_rustls::server::TlsStream<UnixStream>);

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct Controller {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl grpc_controller_server::GrpcController for Controller {
    async fn shutdown(
        &self,
        _: Request<go_plugin::Empty>,
    ) -> Result<Response<go_plugin::Empty>, Status> {
        self.shutdown.notify_one();
        Ok(Response::new(go_plugin::Empty {}))
    }
}

struct Health;

#[tonic::async_trait]
impl health_server::Health for Health {
    async fn check(
        &self,
        _: Request<health::HealthCheckRequest>,
    ) -> Result<Response<health::HealthCheckResponse>, Status> {
        Ok(Response::new(health::HealthCheckResponse {
            status: health::health_check_response::ServingStatus::Serving as i32,
        }))
    }
}

/// A directory only this user can open, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new(parent: Option<PathBuf>) -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let parent = parent.unwrap_or_else(std::env::temp_dir);
        let mut bytes = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| std::io::Error::other("no randomness for the socket directory's name"))?;
        let dir = parent.join(format!("baremetal-plugin-{}", hex::encode(bytes)));
        // 0700 from the start: there is no moment where another user could open it.
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(PrivateDir(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `provider` to the Terraform that started this process, until Terraform shuts it down.
pub async fn serve(provider: Arc<dyn Provider>) -> Result<(), ServeError> {
    let hs = Handshake::from_env(|k| std::env::var(k).ok())?;
    let (cert, tls) = super::tls::server(&hs.client_cert).map_err(ServeError::Handshake)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let dir = PrivateDir::new(hs.socket_dir).map_err(ServeError::Io)?;
    let socket = dir.0.join("plugin.sock");
    // sockaddr_un holds 108 bytes, the final NUL included.
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ServeError::Handshake(format!(
            "the plugin socket {} is {len} bytes long, and a Unix socket path takes at most {MAX_SOCKET_PATH}: \
             run Terraform with a shorter PLUGIN_UNIX_SOCKET_DIR or TMPDIR",
            socket.display()
        )));
    }
    let listener = UnixListener::bind(&socket).map_err(ServeError::Io)?;

    let shutdown = Arc::new(Notify::new());
    tokio::spawn(async {
        // Ignored, not fatal: see the module's docs.
        while tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupt ignored: Terraform stops the provider itself");
        }
    });

    // SIGTERM ends the provider as the controller's Shutdown does: in-flight calls finish and the
    // socket directory is removed.
    let on_term = shutdown.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            if term.recv().await.is_some() {
                on_term.notify_one();
            }
        }
    });

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Conn, std::io::Error>>();
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "plugin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                // A peer that never finishes its handshake is dropped, not kept waiting.
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(Conn(tls)));
                    }
                    // A peer without Terraform's certificate: refused, and said in the log.
                    Ok(Err(e)) => tracing::warn!(error = %e, "plugin connection refused"),
                    Err(_) => tracing::warn!("plugin connection dropped: no TLS handshake in 10 s"),
                }
            });
        }
    });

    {
        use base64::Engine as _;
        use std::io::Write as _;
        let line = format!(
            "1|{PROTOCOL}|unix|{}|grpc|{}\n",
            socket.display(),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&cert)
        );
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes()).map_err(ServeError::Io)?;
        out.flush().map_err(ServeError::Io)?;
    }

    let done = shutdown.clone();
    tonic::transport::Server::builder()
        // Terraform sends whole states and configurations (a host's user data alone may be 1 MiB):
        // up to 256 MiB per message, as Terraform's own plugin SDK takes, not tonic's 4 MiB.
        .add_service(
            ProviderServer::new(Service::new(provider))
                .max_decoding_message_size(256 << 20)
                .max_encoding_message_size(256 << 20),
        )
        .add_service(grpc_controller_server::GrpcControllerServer::new(
            Controller { shutdown },
        ))
        .add_service(health_server::HealthServer::new(Health))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
            async move { done.notified().await },
        )
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
    drop(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_handshake_needs_the_cookie_protocol_6_and_a_client_certificate() {
        assert!(matches!(
            Handshake::from_env(env(&[])),
            Err(ServeError::NotTerraform)
        ));
        assert!(matches!(
            Handshake::from_env(env(&[(MAGIC_COOKIE_KEY, "wrong")])),
            Err(ServeError::NotTerraform)
        ));
        let e = Handshake::from_env(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5"),
            ("PLUGIN_CLIENT_CERT", "x"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("speaks 6"), "{e}");
        let e = Handshake::from_env(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("PLUGIN_CLIENT_CERT"), "{e}");
        let h = Handshake::from_env(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
            ("PLUGIN_CLIENT_CERT", "pem"),
            ("PLUGIN_UNIX_SOCKET_DIR", "/run/x"),
        ]))
        .unwrap();
        assert_eq!(h.socket_dir, Some(PathBuf::from("/run/x")));
    }

    #[test]
    fn the_socket_directory_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let d = PrivateDir::new(Some(parent.path().to_path_buf())).unwrap();
        let mode = std::fs::metadata(&d.0).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let path = d.0.clone();
        drop(d);
        assert!(!path.exists());
    }
}
