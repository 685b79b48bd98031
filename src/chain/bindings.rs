//! Contract bindings: Marquee's own from the committed artifacts, standard token interfaces by hand.

#![allow(missing_docs, unreachable_pub)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    AttendancePOAP,
    "contracts/out/AttendancePOAP.json"
);
sol!(
    #[sol(rpc)]
    ScreeningPass,
    "contracts/out/ScreeningPass.json"
);
sol!(
    #[sol(rpc)]
    DemoToken,
    "contracts/out/DemoToken.json"
);
sol!(
    #[sol(rpc)]
    DemoBadge,
    "contracts/out/DemoBadge.json"
);

sol!(
    #[sol(rpc)]
    Multicall3,
    "contracts/out/Multicall3.json"
);

sol!(
    #[sol(rpc)]
    DelegateRegistry,
    "contracts/out/DelegateRegistry.json"
);

sol!(GateProbe, "contracts/out/GateProbe.json");

sol! {
    /// What `GateProbe`'s creation code returns: `abi.encode(GateProbe.Answer)`.
    struct GateProbeAnswer {
        uint256 blockNumber;
        Multicall3.Result[] own;
        Multicall3.Result delegations;
        Multicall3.Call3[] calls;
        Multicall3.Result[] results;
    }
}

sol!(
    SignatureValidator6492,
    "contracts/out/SignatureValidator6492.json"
);

sol! {
    /// EIP-1271: contract accounts (Safe, smart wallets) say whether a signature is theirs.
    #[sol(rpc)]
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }

    /// The parts of ERC-721 (with ERC-165 and the Enumerable extension) that gates read.
    #[sol(rpc)]
    interface IERC721 {
        event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
        function balanceOf(address owner) external view returns (uint256);
        function ownerOf(uint256 tokenId) external view returns (address);
        function supportsInterface(bytes4 interfaceId) external view returns (bool);
        function tokenOfOwnerByIndex(address owner, uint256 index) external view returns (uint256);
    }

    /// The parts of ERC-1155 that gates read and follow.
    #[sol(rpc)]
    interface IERC1155 {
        event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value);
        event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values);
        function balanceOf(address account, uint256 id) external view returns (uint256);
    }

    /// delegate.xyz v2's events: a vault (`from`) changing what it lends a wallet (`to`).
    interface IDelegateRegistryEvents {
        event DelegateAll(address indexed from, address indexed to, bytes32 rights, bool enable);
        event DelegateContract(address indexed from, address indexed to, address indexed contract_, bytes32 rights, bool enable);
        event DelegateERC721(address indexed from, address indexed to, address indexed contract_, uint256 tokenId, bytes32 rights, bool enable);
        event DelegateERC20(address indexed from, address indexed to, address indexed contract_, bytes32 rights, uint256 amount);
        event DelegateERC1155(address indexed from, address indexed to, address indexed contract_, uint256 tokenId, bytes32 rights, uint256 amount);
    }

    /// The part of ERC-20 that gates read.
    #[sol(rpc)]
    interface IERC20 {
        function balanceOf(address account) external view returns (uint256);
    }
}
