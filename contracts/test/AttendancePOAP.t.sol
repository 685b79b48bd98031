// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {AttendancePOAP, IERC5192} from "../src/AttendancePOAP.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract AttendancePOAPTest is Test {
    AttendancePOAP internal poap;
    uint256 internal issuerKey = 0xA11CE;
    address internal issuer;
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    uint256 internal constant EVENT = 0x1234;
    uint256 internal constant CAPPED = 0x5678;
    uint256 internal constant BOUND = 0x9abc;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Locked(uint256 tokenId);

    function setUp() public {
        issuer = vm.addr(issuerKey);
        poap = new AttendancePOAP("http://localhost:8080/api/v1/poap/", issuer);
        vm.startPrank(issuer);
        poap.createEvent(EVENT, issuer, 0, false);
        poap.createEvent(CAPPED, issuer, 2, false);
        poap.createEvent(BOUND, issuer, 0, true);
        vm.stopPrank();
    }

    // ---- events ----

    function test_EventIsCreatedOnceByAnIssuer() public {
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.EventExists.selector, EVENT));
        poap.createEvent(EVENT, issuer, 0, false);

        bytes32 role = poap.ISSUER_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        poap.createEvent(1, alice, 0, false);

        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.EventIdTooLarge.selector, uint256(1) << 96));
        poap.createEvent(uint256(1) << 96, issuer, 0, false);
    }

    function test_OnlyTheEventsIssuerMints() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.NotIssuer.selector, EVENT, alice));
        poap.mint(EVENT, alice);

        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.UnknownEvent.selector, 77));
        poap.mint(77, alice);
    }

    function test_IssuerCanBeHandedOverAndCapKeptAboveMinted() public {
        vm.startPrank(issuer);
        poap.mint(CAPPED, alice);
        poap.mint(CAPPED, bob);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.CapBelowMinted.selector, CAPPED, 2));
        poap.updateEvent(CAPPED, issuer, 1);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.CapChange.selector, CAPPED));
        poap.updateEvent(CAPPED, issuer, 0);
        poap.updateEvent(EVENT, bob, 0);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.NotIssuer.selector, EVENT, issuer));
        poap.mint(EVENT, alice);
        vm.stopPrank();
        vm.prank(bob);
        poap.mint(EVENT, alice);
    }

    // ---- minting ----

    function test_MintPutsEventAndHolderInTheTokenId() public {
        uint256 expected = (EVENT << 160) | uint160(alice);
        vm.prank(issuer);
        vm.expectEmit(true, true, true, true);
        emit Transfer(address(0), alice, expected);
        uint256 id = poap.mint(EVENT, alice);
        assertEq(id, expected, "token id");
        assertEq(poap.tokenIdOf(EVENT, alice), expected, "tokenIdOf");
        assertEq(poap.ownerOf(id), alice, "owner");
        assertEq(poap.eventOf(id), EVENT, "eventOf");
        assertTrue(poap.hasAttended(EVENT, alice), "hasAttended");
        assertTrue(!poap.hasAttended(EVENT, bob), "bob has not");
        assertEq(poap.tokenURI(id), string.concat("http://localhost:8080/api/v1/poap/", _dec(expected)), "tokenURI");
    }

    function test_SecondTokenOfSameEventForSameHolderReverts() public {
        vm.startPrank(issuer);
        poap.mint(EVENT, alice);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.AlreadyAttended.selector, EVENT, alice));
        poap.mint(EVENT, alice);
        poap.mint(CAPPED, alice);
        vm.stopPrank();
        assertEq(poap.balanceOf(alice), 2, "one token per event");
    }

    function test_TheGuardHoldsAfterTheTokenMoves() public {
        vm.prank(issuer);
        uint256 id = poap.mint(EVENT, alice);
        vm.prank(alice);
        poap.transferFrom(alice, bob, id);
        assertTrue(poap.hasAttended(EVENT, alice), "alice still attended");
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.AlreadyAttended.selector, EVENT, alice));
        poap.mint(EVENT, alice);
    }

    function test_CapStopsMintsAndBatchesSkipPastIt() public {
        address[] memory to = new address[](3);
        (to[0], to[1], to[2]) = (alice, bob, address(0xC));
        vm.prank(issuer);
        assertEq(poap.mintBatch(CAPPED, to), 2, "two of three fit");
        assertTrue(!poap.hasAttended(CAPPED, address(0xC)), "third skipped");
        (, uint256 cap, uint256 minted, ) = poap.eventInfo(CAPPED);
        assertEq(minted, cap, "counted up to the cap");
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.SoldOut.selector, CAPPED));
        poap.mint(CAPPED, address(0xC));
        vm.prank(issuer);
        poap.updateEvent(CAPPED, issuer, 3);
        vm.prank(issuer);
        poap.mint(CAPPED, address(0xC));
    }

    function test_BatchSkipsWhoAlreadyHasOneInsteadOfReverting() public {
        vm.prank(issuer);
        poap.mint(EVENT, bob);
        address[] memory to = new address[](4);
        (to[0], to[1], to[2], to[3]) = (alice, bob, alice, address(0));
        vm.prank(issuer);
        assertEq(poap.mintBatch(EVENT, to), 1, "only alice, once");
        assertEq(poap.balanceOf(alice), 1, "alice one");
        assertEq(poap.balanceOf(bob), 1, "bob still one");
    }

    function test_SoulboundTokensAreLockedAndDoNotMove() public {
        uint256 id = poap.tokenIdOf(BOUND, alice);
        vm.prank(issuer);
        vm.expectEmit(true, true, true, true);
        emit Locked(id);
        poap.mint(BOUND, alice);
        assertTrue(poap.locked(id), "locked");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.Soulbound.selector, id));
        poap.transferFrom(alice, bob, id);

        vm.prank(issuer);
        uint256 free = poap.mint(EVENT, alice);
        assertTrue(!poap.locked(free), "transferable event");
    }

    function test_InterfacesAndMetadataRefresh() public {
        assertTrue(poap.supportsInterface(0x80ac58cd), "ERC-721");
        assertTrue(poap.supportsInterface(0x5b5e139f), "ERC-721 metadata");
        assertTrue(poap.supportsInterface(0x49064906), "ERC-4906");
        assertTrue(poap.supportsInterface(0xb45a3c0e), "EIP-5192");
        assertTrue(!poap.supportsInterface(0x780e9d63), "not enumerable");
        vm.prank(issuer);
        uint256 id = poap.mint(EVENT, alice);
        vm.prank(issuer);
        poap.setBaseURI("https://marquee.example/api/v1/poap/");
        assertEq(poap.tokenURI(id), string.concat("https://marquee.example/api/v1/poap/", _dec(id)), "new base");
    }

    function test_EventOfUnknownTokenReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, 42));
        poap.eventOf(42);
    }

    // ---- gas: the issue's goals, measured on the call and counted as a transaction ----

    function test_GasOfASingleMintToAFreshHolder() public {
        assertLe(_singleMintGas(EVENT), 75_000, "single mint to a fresh holder");
    }

    function test_GasOfASingleMintOnACappedEvent() public {
        assertLe(_singleMintGas(CAPPED), 75_000, "single mint on a capped event");
    }

    /// @dev A mint to a fresh holder (a full 20-byte address) of an event that already minted.
    function _singleMintGas(uint256 eventId) internal returns (uint256) {
        vm.prank(issuer);
        poap.mint(eventId, bob);
        address fresh = address(0x1234567890123456789012345678901234567890);
        return _issuerTxGas(abi.encodeCall(AttendancePOAP.mint, (eventId, fresh)));
    }

    function test_GasPerAttendeeInABatchOf100FreshHolders() public {
        address[] memory to = _holders(100, 1);
        uint256 gas = _issuerTxGas(abi.encodeCall(AttendancePOAP.mintBatch, (EVENT, to)));
        assertEq(poap.balanceOf(to[99]), 1, "last minted");
        assertLe(gas / 100, 55_000, "per attendee in a batch of 100");
    }

    // ---- vouchers ----

    function test_VoucherMintsToTheRecipientWhoeverSubmitsIt() public {
        bytes memory sig = _voucher(issuerKey, EVENT, alice, block.timestamp + 1 hours, 7);
        vm.prank(bob);
        uint256 id = poap.redeem(EVENT, alice, block.timestamp + 1 hours, 7, sig);
        assertEq(poap.ownerOf(id), alice, "recipient holds it");
        assertTrue(poap.nonceUsed(7), "nonce spent");
    }

    function test_VoucherCannotBeReplayedOrBent() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucher(issuerKey, EVENT, alice, deadline, 7);
        // Another event, recipient or deadline than signed.
        vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
        poap.redeem(CAPPED, alice, deadline, 7, sig);
        vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
        poap.redeem(EVENT, bob, deadline, 7, sig);
        vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
        poap.redeem(EVENT, alice, deadline + 1, 7, sig);
        // Signed by someone who is not the issuer.
        bytes memory forged = _voucher(0xBAD, EVENT, alice, deadline, 7);
        vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
        poap.redeem(EVENT, alice, deadline, 7, forged);
        // Once.
        poap.redeem(EVENT, alice, deadline, 7, sig);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.VoucherUsed.selector, 7));
        poap.redeem(EVENT, alice, deadline, 7, sig);
    }

    function test_VoucherExpiresAndCanBeCancelled() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucher(issuerKey, EVENT, alice, deadline, 8);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.VoucherExpired.selector, deadline));
        poap.redeem(EVENT, alice, deadline, 8, sig);
        vm.warp(deadline);
        vm.prank(issuer);
        poap.cancelVoucher(8);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.VoucherUsed.selector, 8));
        poap.redeem(EVENT, alice, deadline, 8, sig);
    }

    function test_VoucherIsBoundToChainAndContract() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucher(issuerKey, EVENT, alice, deadline, 9);
        // The same voucher on a twin contract (another verifying contract).
        AttendancePOAP twin = new AttendancePOAP("x", issuer);
        vm.prank(issuer);
        twin.createEvent(EVENT, issuer, 0, false);
        vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
        twin.redeem(EVENT, alice, deadline, 9, sig);
        // The same contract on another chain.
        vm.chainId(10);
        vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
        poap.redeem(EVENT, alice, deadline, 9, sig);
        vm.chainId(31337);
        poap.redeem(EVENT, alice, deadline, 9, sig);
    }

    function test_VoucherOfAHolderWhoAlreadyHasOneReverts() public {
        vm.prank(issuer);
        poap.mint(EVENT, alice);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucher(issuerKey, EVENT, alice, deadline, 10);
        vm.expectRevert(abi.encodeWithSelector(AttendancePOAP.AlreadyAttended.selector, EVENT, alice));
        poap.redeem(EVENT, alice, deadline, 10, sig);
    }

    // ---- fuzz ----

    /// Whatever the list (repeats, zero addresses, holders who already have one), a batch gives
    /// each distinct non-zero holder exactly one token, up to the cap, and never reverts.
    function testFuzz_BatchGivesEachHolderOneToken(uint8 n, uint256 seed, uint8 cap, uint8 premint) public {
        uint256 eventId = 0xF00D;
        vm.prank(issuer);
        poap.createEvent(eventId, issuer, cap, false);
        address[] memory to = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            // A small address space makes repeats likely; 0 stands for the zero address.
            to[i] = address(uint160(uint256(keccak256(abi.encode(seed, i))) % 24));
        }
        uint256 already = 0;
        if (premint % 24 != 0) {
            vm.prank(issuer);
            try poap.mint(eventId, address(uint160(premint % 24))) {
                already = 1;
            } catch {}
        }
        vm.prank(issuer);
        uint256 minted = poap.mintBatch(eventId, to);

        uint256 expected = 0;
        for (uint256 h = 1; h < 24; ++h) {
            address holder = address(uint160(h));
            uint256 balance = poap.balanceOf(holder);
            assertLe(balance, 1, "at most one per holder");
            if (balance == 1) ++expected;
        }
        assertEq(expected, minted + already, "every mint is a distinct holder");
        if (cap != 0) {
            (, , uint256 count, ) = poap.eventInfo(eventId);
            assertEq(count, minted + already, "counter");
            assertLe(count, cap, "cap");
        }
        // Every listed holder who could still fit got one.
        if (cap == 0) {
            for (uint256 i = 0; i < n; ++i) {
                if (to[i] != address(0)) assertTrue(poap.hasAttended(eventId, to[i]), "listed holder minted");
            }
        }
    }

    /// A voucher works for exactly what was signed: any other field refuses it.
    function testFuzz_VoucherBindsEveryField(
        uint96 eventId,
        address recipient,
        uint64 ttl,
        uint256 nonce,
        uint8 bent
    ) public {
        vm.assume(recipient != address(0) && eventId != EVENT && eventId != CAPPED && eventId != BOUND);
        vm.prank(issuer);
        poap.createEvent(eventId, issuer, 0, false);
        uint256 deadline = block.timestamp + ttl;
        bytes memory sig = _voucher(issuerKey, eventId, recipient, deadline, nonce);
        uint256 which = bent % 4;
        if (which == 0) {
            vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
            poap.redeem(EVENT, recipient, deadline, nonce, sig);
        } else if (which == 1) {
            vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
            poap.redeem(eventId, address(uint160(recipient) ^ 1), deadline, nonce, sig);
        } else if (which == 2) {
            vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
            poap.redeem(eventId, recipient, deadline, nonce ^ 1, sig);
        } else {
            vm.chainId(1);
            vm.expectRevert(AttendancePOAP.BadVoucherSignature.selector);
            poap.redeem(eventId, recipient, deadline, nonce, sig);
            vm.chainId(31337);
        }
        uint256 id = poap.redeem(eventId, recipient, deadline, nonce, sig);
        assertEq(poap.ownerOf(id), recipient, "signed voucher mints");
    }

    // ---- helpers ----

    function _voucher(uint256 key, uint256 eventId, address to, uint256 deadline, uint256 nonce)
        internal
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, poap.voucherDigest(eventId, to, deadline, nonce));
        return abi.encodePacked(r, s, v);
    }

    function _holders(uint256 n, uint256 from) internal pure returns (address[] memory to) {
        to = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            to[i] = address(uint160(uint256(keccak256(abi.encode(from + i)))));
        }
    }

    /// @dev Calls the contract with `data` as the issuer, asserts it succeeded, and returns what
    /// a transaction carrying it pays: base, calldata (EIP-2028) and the call's execution.
    function _issuerTxGas(bytes memory data) internal returns (uint256 gas) {
        vm.prank(issuer);
        uint256 before = gasleft();
        (bool ok, ) = address(poap).call(data);
        gas = 21_000 + before - gasleft();
        assertTrue(ok, "call");
        for (uint256 i = 0; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    function _dec(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        bytes memory b;
        while (v != 0) {
            b = abi.encodePacked(bytes1(uint8(48 + (v % 10))), b);
            v /= 10;
        }
        return string(b);
    }
}
