//! The local chain: Anvil from the pinned npm toolkit in `anvil/`, started on a chosen port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use tokio::process::{Child, Command};
use url::Url;

/// Anvil's well-known development keys (public knowledge; never use them on a real chain).
pub const DEV_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9ad8a7d7c6a48",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

/// A running Anvil; killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: Url,
}

impl Anvil {
    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Where the toolkit's native binary of `tool` (anvil, forge, cast) is, under `toolkit` (the `anvil/` folder).
pub fn tool_path(toolkit: &Path, tool: &str) -> std::io::Result<PathBuf> {
    let scope = toolkit.join("node_modules/@foundry-rs");
    let prefix = format!("{tool}-");
    for entry in std::fs::read_dir(&scope)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(&prefix) {
            let bin = entry.path().join("bin").join(tool);
            if bin.exists() {
                return Ok(bin);
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "no {tool} binary under {}; run `make deps` (npm ci in anvil/)",
            scope.display()
        ),
    ))
}

impl Anvil {
    /// Starts Anvil on `port` with extra `args`, and returns once it answers JSON-RPC.
    pub async fn spawn(toolkit: &Path, port: u16, args: &[&str]) -> std::io::Result<Anvil> {
        let bin = tool_path(toolkit, "anvil")?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let url: Url = format!("http://127.0.0.1:{port}")
            .parse()
            .expect("valid url");
        let mut anvil = Anvil { child, url };
        anvil.wait_ready().await?;
        Ok(anvil)
    }

    async fn wait_ready(&mut self) -> std::io::Result<()> {
        let provider = ProviderBuilder::new().connect_http(self.url.clone());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!("anvil exited: {status}")));
            }
            if provider.get_chain_id().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "anvil did not answer within 15 s",
        ))
    }

    /// Asks Anvil to stop (SIGTERM, so it can dump its state) and waits for it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
