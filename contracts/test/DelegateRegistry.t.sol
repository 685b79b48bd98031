// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {DelegateRegistry} from "../src/DelegateRegistry.sol";

contract DelegateRegistryTest is Test {
    DelegateRegistry internal registry = new DelegateRegistry();
    address internal constant VAULT = address(0xA11CE);
    address internal constant HOT = address(0xB0B);
    address internal constant NFT = address(0xC0FFEE);

    function testDelegationsAreListedAndChecked() public {
        vm.startPrank(VAULT);
        registry.delegateContract(HOT, NFT, 0, true);
        registry.delegateERC721(HOT, address(0xD00D), 7, 0, true);
        vm.stopPrank();
        DelegateRegistry.Delegation[] memory d = registry.getIncomingDelegations(HOT);
        assertEq(d.length, 2, "two delegations");
        assertTrue(d[0].type_ == DelegateRegistry.DelegationType.CONTRACT, "contract first");
        assertEq(d[0].from, VAULT, "from the vault");
        assertEq(d[0].contract_, NFT, "for the collection");
        assertEq(d[1].tokenId, 7, "token delegation");
        assertTrue(registry.checkDelegateForERC721(HOT, VAULT, NFT, 1, 0), "contract covers its tokens");
        assertTrue(registry.checkDelegateForERC721(HOT, VAULT, address(0xD00D), 7, 0), "token 7");
        assertTrue(!registry.checkDelegateForERC721(HOT, VAULT, address(0xD00D), 8, 0), "not token 8");
        assertTrue(!registry.checkDelegateForAll(HOT, VAULT, 0), "not everything");
    }

    function testRevokingRemovesExactlyOne() public {
        vm.startPrank(VAULT);
        registry.delegateAll(HOT, 0, true);
        registry.delegateContract(HOT, NFT, 0, true);
        registry.delegateAll(HOT, 0, true); // again: still one
        registry.delegateAll(HOT, 0, false);
        vm.stopPrank();
        DelegateRegistry.Delegation[] memory d = registry.getIncomingDelegations(HOT);
        assertEq(d.length, 1, "one left");
        assertTrue(d[0].type_ == DelegateRegistry.DelegationType.CONTRACT, "the contract one");
        assertTrue(!registry.checkDelegateForAll(HOT, VAULT, 0), "revoked");
        vm.prank(VAULT);
        registry.delegateContract(HOT, NFT, 0, false);
        assertEq(registry.getIncomingDelegations(HOT).length, 0, "none left");
    }

    function testFuzzOnlyTheSenderDelegatesItsOwn(address someone, uint256 tokenId) public {
        vm.assume(someone != VAULT);
        vm.prank(someone);
        registry.delegateERC721(HOT, NFT, tokenId, 0, true);
        assertTrue(!registry.checkDelegateForERC721(HOT, VAULT, NFT, tokenId, 0), "not the vault's");
        assertTrue(registry.checkDelegateForERC721(HOT, someone, NFT, tokenId, 0), "the sender's");
    }
}
