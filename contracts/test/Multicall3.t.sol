// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {Multicall3} from "../src/Multicall3.sol";

contract Answers {
    function seven() external pure returns (uint256) {
        return 7;
    }

    function fails() external pure {
        revert("no");
    }
}

contract Multicall3Test is Test {
    Multicall3 internal multicall = new Multicall3();
    Answers internal answers = new Answers();

    function calls(bool allowFailure) internal view returns (Multicall3.Call3[] memory c) {
        c = new Multicall3.Call3[](3);
        c[0] = Multicall3.Call3(address(answers), false, abi.encodeCall(Answers.seven, ()));
        c[1] = Multicall3.Call3(address(answers), allowFailure, abi.encodeCall(Answers.fails, ()));
        c[2] = Multicall3.Call3(address(multicall), false, abi.encodeCall(Multicall3.getBlockNumber, ()));
    }

    function testResultsInOrderWithFailuresAllowed() public {
        Multicall3.Result[] memory r = multicall.aggregate3(calls(true));
        assertTrue(r.length == 3, "one result per call");
        assertTrue(r[0].success && abi.decode(r[0].returnData, (uint256)) == 7, "answer");
        assertTrue(!r[1].success, "failure reported");
        assertTrue(r[2].success && abi.decode(r[2].returnData, (uint256)) == block.number, "block");
    }

    function testAFailureNotAllowedRevertsTheWhole() public {
        (bool ok,) = address(multicall).call(abi.encodeCall(Multicall3.aggregate3, (calls(false))));
        assertTrue(!ok, "reverted");
    }
}
