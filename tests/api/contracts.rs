//! The committed contract artifacts match a fresh compile, and `marquee deploy` works.

use std::process::Command;

use alloy::providers::Provider;

use crate::helpers::*;
use marquee::chain::anvil::{DEV_KEYS, tool_path};

#[test]
fn committed_artifacts_match_a_fresh_compile() {
    let tmp = tempfile::tempdir().unwrap();
    let forge = tool_path(&root().join("anvil"), "forge").unwrap();
    let out = tmp.path().join("out");
    let status = Command::new(forge)
        .current_dir(root().join("contracts"))
        .args(["build", "--out"])
        .arg(&out)
        .arg("--cache-path")
        .arg(tmp.path().join("cache"))
        .status()
        .unwrap();
    assert!(status.success(), "forge build");
    let slim = tmp.path().join("slim");
    let status = Command::new("node")
        .arg(root().join("anvil/artifacts.mjs"))
        .arg(&out)
        .arg(&slim)
        .status()
        .unwrap();
    assert!(status.success(), "artifacts.mjs");
    for name in ["AttendancePOAP", "ScreeningPass", "DemoToken", "DemoBadge"] {
        let fresh = std::fs::read_to_string(slim.join(format!("{name}.json"))).unwrap();
        let committed =
            std::fs::read_to_string(root().join(format!("contracts/out/{name}.json"))).unwrap();
        assert!(
            fresh == committed,
            "contracts/out/{name}.json is stale: run `make contracts`"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_prints_the_addresses_of_live_contracts() {
    let app = spawn_app().await;
    let printed = app
        .run_cli(&[
            "deploy",
            "--pass",
            "--key",
            DEV_KEYS[3],
            "--rpc-url",
            app.anvil.url.as_str(),
        ])
        .await;
    for key in ["poap", "pass"] {
        let addr: alloy::primitives::Address = printed[key].as_str().unwrap().parse().unwrap();
        assert_eq!(printed[key], addr.to_string(), "EIP-55");
        assert!(
            !app.admin.get_code_at(addr).await.unwrap().is_empty(),
            "{key} has code"
        );
    }
}
