// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {AttendancePOAP} from "../src/AttendancePOAP.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract AttendancePOAPTest is Test {
    AttendancePOAP internal poap;
    address internal admin = address(0xA11CE);
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    uint256 internal constant EVENT = 0x1234;

    event AttendanceMinted(uint256 indexed eventId, address indexed to, uint256 indexed tokenId);

    function setUp() public {
        poap = new AttendancePOAP("http://localhost:8080/api/v1/poap/", admin);
    }

    function test_MintAssignsTokenToEvent() public {
        vm.prank(admin);
        vm.expectEmit(true, true, true, true);
        emit AttendanceMinted(EVENT, alice, 1);
        uint256 id = poap.mint(EVENT, alice);
        assertEq(id, 1, "first token id");
        assertEq(poap.ownerOf(id), alice, "owner");
        assertEq(poap.eventOf(id), EVENT, "eventOf");
        assertTrue(poap.hasAttended(EVENT, alice), "hasAttended");
        assertEq(poap.tokenURI(id), "http://localhost:8080/api/v1/poap/1", "tokenURI");
    }

    function test_SecondTokenOfSameEventForSameHolderReverts() public {
        vm.startPrank(admin);
        poap.mint(EVENT, alice);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.AlreadyAttended.selector, EVENT, alice));
        poap.mint(EVENT, alice);
        // Another event is another token.
        poap.mint(EVENT + 1, alice);
        vm.stopPrank();
        assertEq(poap.balanceOf(alice), 2, "one token per event");
    }

    function test_BatchMintsConsecutiveIds() public {
        address[] memory to = new address[](2);
        to[0] = alice;
        to[1] = bob;
        vm.prank(admin);
        uint256 first = poap.mintBatch(EVENT, to);
        assertEq(poap.ownerOf(first), alice, "first");
        assertEq(poap.ownerOf(first + 1), bob, "second");
        assertEq(poap.eventOf(first + 1), EVENT, "event of second");
    }

    function test_BatchWithDuplicateHolderReverts() public {
        address[] memory to = new address[](2);
        to[0] = alice;
        to[1] = alice;
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.AlreadyAttended.selector, EVENT, alice));
        poap.mintBatch(EVENT, to);
    }

    function test_OnlyMinterMints() public {
        bytes32 role = poap.MINTER_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        poap.mint(EVENT, alice);
    }

    function test_EventOfUnknownTokenReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, 42));
        poap.eventOf(42);
    }

    function test_AdminChangesBaseURI() public {
        vm.startPrank(admin);
        uint256 id = poap.mint(EVENT, alice);
        poap.setBaseURI("https://marquee.example/api/v1/poap/");
        vm.stopPrank();
        assertEq(poap.tokenURI(id), "https://marquee.example/api/v1/poap/1", "tokenURI after change");
    }

    function testFuzz_OneTokenPerEventAndHolder(uint256 eventId, address holder) public {
        vm.assume(holder != address(0) && holder.code.length == 0);
        vm.startPrank(admin);
        poap.mint(eventId, holder);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.AlreadyAttended.selector, eventId, holder));
        poap.mint(eventId, holder);
        vm.stopPrank();
    }
}
