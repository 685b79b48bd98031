// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {GateProbe} from "../src/GateProbe.sol";
import {Multicall3} from "../src/Multicall3.sol";
import {DelegateRegistry} from "../src/DelegateRegistry.sol";
import {ScreeningPass} from "../src/ScreeningPass.sol";
import {DemoToken} from "../src/DemoToken.sol";

contract GateProbeTest is Test {
    Multicall3 internal multicall = new Multicall3();
    DelegateRegistry internal registry = new DelegateRegistry();
    ScreeningPass internal pass = new ScreeningPass("Pass", "P", address(this));
    DemoToken internal coin = new DemoToken("Coin", "C", address(this));
    address internal constant HOT = address(0xB0B);
    address internal constant VAULT = address(0xA11CE);
    address internal constant OTHER_VAULT = address(0xCAFE);

    /// The probe's answer, as an `eth_call` of its creation code returns it: here the answer
    /// becomes the code of the created account, which is read back.
    function probe(DelegateRegistry reg, GateProbe.Read[] memory reads, address[] memory gated, uint256 max)
        internal
        returns (GateProbe.Answer memory)
    {
        address created = address(new GateProbe(GateProbe.Query(multicall, reg, HOT, reads, gated, max)));
        return abi.decode(created.code, (GateProbe.Answer));
    }

    function readsOf(uint256 listedId) internal view returns (GateProbe.Read[] memory r) {
        r = new GateProbe.Read[](3);
        r[0] = GateProbe.Read(address(pass), abi.encodeWithSignature("balanceOf(address)", HOT), true);
        r[1] = GateProbe.Read(address(pass), abi.encodeWithSignature("ownerOf(uint256)", listedId), false);
        r[2] = GateProbe.Read(address(coin), abi.encodeWithSignature("balanceOf(address)", HOT), true);
    }

    function contracts() internal view returns (address[] memory c) {
        c = new address[](2);
        c[0] = address(pass);
        c[1] = address(coin);
    }

    function testReadsTheWalletAloneWhenNothingIsDelegated() public {
        uint256 id = pass.mint(HOT);
        coin.mint(HOT, 5);
        GateProbe.Answer memory a = probe(registry, readsOf(id), contracts(), 8);
        assertEq(a.blockNumber, block.number, "block");
        assertEq(a.own.length, 3, "every read");
        assertEq(abi.decode(a.own[0].returnData, (uint256)), 1, "holds one pass");
        assertEq(abi.decode(a.own[1].returnData, (address)), HOT, "owns the listed one");
        assertEq(abi.decode(a.own[2].returnData, (uint256)), 5, "coins");
        assertTrue(a.delegations.success, "registry answered");
        assertEq(a.calls.length, 0, "no vault: nothing more read");
    }

    function testReadsEachDelegatingVaultsPerAccountReadsAndLentTokens() public {
        uint256 id = pass.mint(VAULT);
        uint256 lent = pass.mint(OTHER_VAULT);
        coin.mint(VAULT, 7);
        vm.startPrank(VAULT);
        registry.delegateAll(HOT, bytes32(uint256(1)), true); // another right: does not count
        registry.delegateContract(HOT, address(coin), 0, true);
        registry.delegateAll(HOT, 0, true); // the same vault again: read once
        vm.stopPrank();
        vm.startPrank(OTHER_VAULT);
        registry.delegateContract(HOT, address(0xD00D), 0, true); // not this gate's: does not count
        registry.delegateERC721(HOT, address(pass), lent, 0, true);
        vm.stopPrank();

        GateProbe.Answer memory a = probe(registry, readsOf(id), contracts(), 8);
        // Two vaults, in the registry's order: two per-account reads each, then the lent token's owner.
        assertEq(a.calls.length, 5, "dependent reads");
        assertTrue(keccak256(a.calls[0].callData) == keccak256(abi.encodeWithSignature("balanceOf(address)", VAULT)), "rewritten for the first vault");
        assertEq(a.calls[1].target, address(coin), "in the order given");
        assertEq(abi.decode(a.results[0].returnData, (uint256)), 1, "the vault's pass");
        assertEq(abi.decode(a.results[1].returnData, (uint256)), 7, "the vault's coins");
        assertTrue(keccak256(a.calls[2].callData) == keccak256(abi.encodeWithSignature("balanceOf(address)", OTHER_VAULT)), "second vault");
        assertTrue(keccak256(a.calls[4].callData) == keccak256(abi.encodeWithSignature("ownerOf(uint256)", lent)), "lent token");
        assertEq(abi.decode(a.results[4].returnData, (address)), OTHER_VAULT, "its owner");
        assertEq(abi.decode(a.own[0].returnData, (uint256)), 0, "the wallet holds nothing itself");
    }

    function testStopsAtMostVaults() public {
        for (uint160 v = 1; v <= 3; v++) {
            vm.prank(address(0x1000 + v));
            registry.delegateAll(HOT, 0, true);
        }
        GateProbe.Answer memory a = probe(registry, readsOf(1), contracts(), 2);
        assertEq(a.calls.length, 4, "capped: two vaults' reads");
    }

    function testWithoutARegistryOnlyTheWalletIsRead() public {
        coin.mint(HOT, 3);
        GateProbe.Answer memory a = probe(DelegateRegistry(address(0xDEAD)), readsOf(1), contracts(), 8);
        assertTrue(!a.delegations.success, "no registry there");
        assertEq(a.calls.length, 0, "no vault");
        assertEq(abi.decode(a.own[2].returnData, (uint256)), 3, "own reads still answered");
        assertTrue(!a.own[1].success, "a failing read is reported, not fatal");
    }
}
