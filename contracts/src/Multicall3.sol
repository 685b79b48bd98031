// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The read side of the Multicall3 interface
/// @notice Marquee reads a whole gate in one `eth_call` through `aggregate3`. Real chains have
/// the canonical Multicall3 at 0xcA11bde05977b3631167028862bE2a173976CA11 and Marquee calls that
/// one; this contract answers the same two calls on chains that lack it (a fresh Anvil), and is
/// written here from the interface alone.
contract Multicall3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// @notice Makes every call in turn; reverts when a call that may not fail fails.
    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory results) {
        results = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            (bool success, bytes memory returnData) = calls[i].target.call(calls[i].callData);
            require(success || calls[i].allowFailure, "Multicall3: call failed");
            results[i] = Result(success, returnData);
        }
    }

    /// @notice The number of the block the calls run in.
    function getBlockNumber() external view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }
}
