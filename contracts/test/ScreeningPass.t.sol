// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {ScreeningPass} from "../src/ScreeningPass.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract ScreeningPassTest is Test {
    ScreeningPass internal pass;
    address internal owner = address(0x0A);
    address internal alice = address(0xA1);

    function setUp() public {
        pass = new ScreeningPass("Screening Pass", "PASS", owner);
    }

    function test_OwnerMintsSequentialTickets() public {
        vm.startPrank(owner);
        assertEq(pass.mint(alice), 1, "first ticket");
        assertEq(pass.mint(alice), 2, "second ticket");
        vm.stopPrank();
        assertEq(pass.balanceOf(alice), 2, "balance");
        assertEq(pass.ownerOf(2), alice, "owner of ticket 2");
    }

    function test_OthersCannotMint() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        pass.mint(alice);
    }

    function test_IsNotEnumerable() public view {
        // ERC721Enumerable's interface id: the gate must find tickets through Transfer logs.
        assertTrue(!pass.supportsInterface(0x780e9d63), "not enumerable");
        assertTrue(pass.supportsInterface(0x80ac58cd), "ERC-721");
    }
}
