// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Multicall3} from "./Multicall3.sol";
import {DelegateRegistry} from "./DelegateRegistry.sol";

/// @title GateProbe
/// @notice Reads a token gate for a wallet and for the vaults that delegated to it (delegate.xyz
/// v2) in one `eth_call`. It is deployless: never deployed, its creation code runs inside the
/// call, whose changes are discarded, and what the constructor returns is the call's answer.
/// The reads themselves go through Multicall3 as any gate's do; what this adds is the dependent
/// step, reading the vaults that only the registry's answer names, without a second round trip.
contract GateProbe {
    /// One read of the gate. When `perAccount`, the word after the selector is the account it
    /// reads for (`balanceOf(account, …)`), and it is read again for each vault.
    struct Read {
        address target;
        bytes callData;
        bool perAccount;
    }

    /// What the probe read.
    struct Answer {
        uint256 blockNumber;
        /// The reads for the wallet, in the order given.
        Multicall3.Result[] own;
        /// `getIncomingDelegations(wallet)`: failed when there is no registry.
        Multicall3.Result delegations;
        /// The dependent reads: the per-account reads of each vault whose delegations to the
        /// wallet can matter to this gate (at most `maxVaults`, in the registry's order), then
        /// the owner of every token lent one by one; each with its answer.
        Multicall3.Call3[] calls;
        Multicall3.Result[] results;
    }

    /// The delegation types that can open a gate: the whole wallet, a contract, one ERC-721 token.
    uint8 private constant ALL = 1;
    uint8 private constant CONTRACT = 2;
    uint8 private constant ERC721 = 3;

    /// What to read: `reads` for `wallet`, through `multicall`, and again for the vaults among
    /// the `wallet`'s delegations in `registry` that can open a gate reading `contracts`.
    struct Query {
        Multicall3 multicall;
        DelegateRegistry registry;
        address wallet;
        Read[] reads;
        address[] contracts;
        uint256 maxVaults;
    }

    constructor(Query memory q) {
        Answer memory a;
        a.blockNumber = block.number;
        a.own = q.multicall.aggregate3(_calls(q.reads, q.wallet, false));
        DelegateRegistry.Delegation[] memory list;
        if (address(q.registry).code.length > 0) {
            try q.registry.getIncomingDelegations(q.wallet) returns (DelegateRegistry.Delegation[] memory l) {
                list = l;
                a.delegations = Multicall3.Result(true, abi.encode(l));
            } catch {}
        }
        a.calls = _dependent(list, q.reads, q.contracts, q.maxVaults);
        a.results = q.multicall.aggregate3(a.calls);
        bytes memory out = abi.encode(a);
        assembly ("memory-safe") {
            return(add(out, 32), mload(out))
        }
    }

    /// The reads that depend on the registry's answer: each vault's, in the registry's order, then
    /// the owners of lent tokens.
    function _dependent(
        DelegateRegistry.Delegation[] memory list,
        Read[] memory reads,
        address[] memory contracts,
        uint256 maxVaults
    ) private pure returns (Multicall3.Call3[] memory calls) {
        address[] memory vaults = new address[](maxVaults);
        uint256 nVaults;
        uint256 lent;
        for (uint256 i; i < list.length; i++) {
            DelegateRegistry.Delegation memory d = list[i];
            if (!_counts(d, contracts)) continue;
            if (uint8(d.type_) == ERC721) lent++;
            bool seen;
            for (uint256 v; v < nVaults; v++) {
                if (vaults[v] == d.from) seen = true;
            }
            if (!seen && nVaults < maxVaults) vaults[nVaults++] = d.from;
        }
        uint256 perVault;
        for (uint256 j; j < reads.length; j++) {
            if (reads[j].perAccount) perVault++;
        }
        calls = new Multicall3.Call3[](nVaults * perVault + lent);
        uint256 n;
        for (uint256 v; v < nVaults; v++) {
            Multicall3.Call3[] memory mine = _calls(reads, vaults[v], true);
            for (uint256 j; j < mine.length; j++) {
                calls[n++] = mine[j];
            }
        }
        for (uint256 i; i < list.length; i++) {
            DelegateRegistry.Delegation memory d = list[i];
            if (uint8(d.type_) != ERC721 || !_counts(d, contracts)) continue;
            calls[n++] = Multicall3.Call3(d.contract_, true, abi.encodeWithSignature("ownerOf(uint256)", d.tokenId));
        }
    }

    /// Whether delegation `d` can open a gate that reads `contracts`: full rights (a delegation
    /// for some other right was not meant to open screenings), and the whole wallet or one of them.
    function _counts(DelegateRegistry.Delegation memory d, address[] memory contracts) private pure returns (bool) {
        uint8 t = uint8(d.type_);
        if (d.rights != bytes32(0) || d.from == address(0) || t == 0 || t > ERC721) return false;
        if (t == ALL) return true;
        for (uint256 c; c < contracts.length; c++) {
            if (contracts[c] == d.contract_) return true;
        }
        return false;
    }

    /// The reads as Multicall3 calls for `account`: all of them (`onlyPerAccount` false, the
    /// wallet's own reads as given) or only the per-account ones, rewritten for `account`.
    function _calls(Read[] memory reads, address account, bool onlyPerAccount)
        private
        pure
        returns (Multicall3.Call3[] memory calls)
    {
        uint256 n;
        for (uint256 i; i < reads.length; i++) {
            if (!onlyPerAccount || reads[i].perAccount) n++;
        }
        calls = new Multicall3.Call3[](n);
        n = 0;
        for (uint256 i; i < reads.length; i++) {
            Read memory r = reads[i];
            if (onlyPerAccount && !r.perAccount) continue;
            bytes memory data = r.callData;
            if (onlyPerAccount) {
                data = bytes.concat(data);
                // The account word follows the 4-byte selector.
                if (data.length >= 36) {
                    assembly ("memory-safe") {
                        mstore(add(data, 36), account)
                    }
                }
            }
            calls[n++] = Multicall3.Call3(r.target, true, data);
        }
    }
}
