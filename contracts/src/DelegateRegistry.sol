// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title DelegateRegistry
/// @notice The delegate.xyz v2 registry interface for what gates use: a vault delegates all its
/// tokens, one contract's, or one ERC-721 token to a hot wallet, and anyone can list the
/// delegations a wallet received. Written from the published interface for local chains and
/// tests; real chains have the canonical deployment at 0x00000000000000447e69651d841bD8D104Bed493.
contract DelegateRegistry {
    /// @notice What a delegation covers; NONE for one that does not exist.
    enum DelegationType {
        NONE,
        ALL,
        CONTRACT,
        ERC721,
        ERC20,
        ERC1155
    }

    /// @notice One delegation, as `getIncomingDelegations` returns it.
    struct Delegation {
        DelegationType type_;
        address to;
        address from;
        bytes32 rights;
        address contract_;
        uint256 tokenId;
        uint256 amount;
    }

    event DelegateAll(address indexed from, address indexed to, bytes32 rights, bool enable);
    event DelegateContract(
        address indexed from, address indexed to, address indexed contract_, bytes32 rights, bool enable
    );
    event DelegateERC721(
        address indexed from,
        address indexed to,
        address indexed contract_,
        uint256 tokenId,
        bytes32 rights,
        bool enable
    );

    mapping(address to => Delegation[]) private _incoming;
    /// @dev Position + 1 in `_incoming[to]` of each live delegation, by hash.
    mapping(bytes32 hash => uint256) private _position;

    /// @notice Delegates (or, with `enable` false, revokes) everything the sender holds to `to`.
    function delegateAll(address to, bytes32 rights, bool enable) external payable returns (bytes32) {
        emit DelegateAll(msg.sender, to, rights, enable);
        return _set(Delegation(DelegationType.ALL, to, msg.sender, rights, address(0), 0, 0), enable);
    }

    /// @notice Delegates (or revokes) the sender's tokens of `contract_` to `to`.
    function delegateContract(address to, address contract_, bytes32 rights, bool enable)
        external
        payable
        returns (bytes32)
    {
        emit DelegateContract(msg.sender, to, contract_, rights, enable);
        return _set(Delegation(DelegationType.CONTRACT, to, msg.sender, rights, contract_, 0, 0), enable);
    }

    /// @notice Delegates (or revokes) the sender's ERC-721 token `tokenId` of `contract_` to `to`.
    function delegateERC721(address to, address contract_, uint256 tokenId, bytes32 rights, bool enable)
        external
        payable
        returns (bytes32)
    {
        emit DelegateERC721(msg.sender, to, contract_, tokenId, rights, enable);
        return _set(Delegation(DelegationType.ERC721, to, msg.sender, rights, contract_, tokenId, 0), enable);
    }

    /// @notice Whether `from` delegated everything to `to` (with `rights`, or fully).
    function checkDelegateForAll(address to, address from, bytes32 rights) public view returns (bool) {
        return _live(Delegation(DelegationType.ALL, to, from, 0, address(0), 0, 0))
            || (rights != 0 && _live(Delegation(DelegationType.ALL, to, from, rights, address(0), 0, 0)));
    }

    /// @notice Whether `from` delegated `contract_` (or everything) to `to`.
    function checkDelegateForContract(address to, address from, address contract_, bytes32 rights)
        public
        view
        returns (bool)
    {
        return checkDelegateForAll(to, from, rights)
            || _live(Delegation(DelegationType.CONTRACT, to, from, 0, contract_, 0, 0))
            || (rights != 0 && _live(Delegation(DelegationType.CONTRACT, to, from, rights, contract_, 0, 0)));
    }

    /// @notice Whether `from` delegated token `tokenId` of `contract_` (or more) to `to`.
    function checkDelegateForERC721(address to, address from, address contract_, uint256 tokenId, bytes32 rights)
        external
        view
        returns (bool)
    {
        return checkDelegateForContract(to, from, contract_, rights)
            || _live(Delegation(DelegationType.ERC721, to, from, 0, contract_, tokenId, 0))
            || (rights != 0 && _live(Delegation(DelegationType.ERC721, to, from, rights, contract_, tokenId, 0)));
    }

    /// @notice Every live delegation made to `to`.
    function getIncomingDelegations(address to) external view returns (Delegation[] memory) {
        return _incoming[to];
    }

    function _hash(Delegation memory d) private pure returns (bytes32) {
        return keccak256(abi.encode(d.type_, d.to, d.from, d.rights, d.contract_, d.tokenId));
    }

    function _live(Delegation memory d) private view returns (bool) {
        return _position[_hash(d)] != 0;
    }

    function _set(Delegation memory d, bool enable) private returns (bytes32 hash) {
        hash = _hash(d);
        uint256 position = _position[hash];
        Delegation[] storage list = _incoming[d.to];
        if (enable && position == 0) {
            list.push(d);
            _position[hash] = list.length;
        } else if (!enable && position != 0) {
            Delegation memory last = list[list.length - 1];
            list[position - 1] = last;
            _position[_hash(last)] = position;
            list.pop();
            delete _position[hash];
        }
    }
}
