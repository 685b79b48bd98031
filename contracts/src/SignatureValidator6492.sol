// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @title SignatureValidator6492
/// @notice Off-chain signature check of EIP-6492 ("deployless"): never deployed, its creation code
/// runs inside an `eth_call`, whose changes are discarded. For a signature wrapped as
/// `abi.encode(factory, factoryCalldata, innerSignature) ++ 0x6492…6492`, it first deploys the
/// account through its factory when the account has no code yet, then asks the account with
/// EIP-1271; an unwrapped signature goes to EIP-1271 for a contract and to ecrecover otherwise.
/// The call returns one byte: 0x01 when the signature is valid, 0x00 when it is not.
contract SignatureValidator6492 {
    bytes32 private constant SUFFIX = 0x6492649264926492649264926492649264926492649264926492649264926492;

    constructor(address signer, bytes32 hash, bytes memory signature) {
        bool valid = _isValid(signer, hash, signature);
        assembly ("memory-safe") {
            mstore(0, valid)
            return(31, 1)
        }
    }

    function _isValid(address signer, bytes32 hash, bytes memory signature) private returns (bool) {
        bytes memory inner = signature;
        if (_isWrapped(signature)) {
            // Drop the suffix in place: what is left is the ABI-encoded triple.
            assembly ("memory-safe") {
                mstore(signature, sub(mload(signature), 32))
            }
            address factory;
            bytes memory factoryCalldata;
            (factory, factoryCalldata, inner) = abi.decode(signature, (address, bytes, bytes));
            // An account deployed since it signed is asked as it is now (its owners may have changed).
            if (signer.code.length == 0) {
                (bool deployed,) = factory.call(factoryCalldata);
                if (!deployed || signer.code.length == 0) return false;
            }
        }
        if (signer.code.length > 0) {
            try IERC1271(signer).isValidSignature(hash, inner) returns (bytes4 magic) {
                return magic == IERC1271.isValidSignature.selector;
            } catch {
                return false;
            }
        }
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, inner);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }

    function _isWrapped(bytes memory signature) private pure returns (bool wrapped) {
        uint256 n = signature.length;
        if (n < 32) return false;
        bytes32 tail;
        assembly ("memory-safe") {
            tail := mload(add(signature, n))
        }
        return tail == SUFFIX;
    }
}
