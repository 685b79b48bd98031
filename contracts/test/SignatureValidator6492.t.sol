// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {SignatureValidator6492} from "../src/SignatureValidator6492.sol";

contract SignatureValidator6492Test is Test {
    bytes32 internal constant HASH = keccak256("sign in");

    /// The validator's answer: the one byte its creation code returns, which `new` keeps as code.
    function answer(address signer, bytes memory sig) internal returns (bytes memory) {
        return address(new SignatureValidator6492(signer, HASH, sig)).code;
    }

    function signed(uint256 key) internal returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, HASH);
        return abi.encodePacked(r, s, v);
    }

    function testOrdinaryAccountSignatures() public {
        address alice = vm.addr(0xA11CE);
        assertTrue(keccak256(answer(alice, signed(0xA11CE))) == keccak256(hex"01"), "own key");
        assertTrue(keccak256(answer(alice, signed(0xB0B))) == keccak256(hex"00"), "another key");
        assertTrue(keccak256(answer(alice, hex"1234")) == keccak256(hex"00"), "malformed");
    }

    function testWrappedSignatureOfAnAccountThatCannotBeDeployed() public {
        // The factory call fails (no factory there): refused, not reverted.
        bytes memory sig = abi.encodePacked(
            abi.encode(address(0xFAC), hex"00", signed(0xA11CE)),
            bytes32(0x6492649264926492649264926492649264926492649264926492649264926492)
        );
        assertTrue(keccak256(answer(address(0xDEAD), sig)) == keccak256(hex"00"), "no account appears");
    }
}
