// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title AttendancePOAP
/// @notice Attendance tokens of Marquee screenings: each token belongs to one event, and a
/// holder receives at most one token per event.
contract AttendancePOAP is ERC721, AccessControl {
    /// @notice Role allowed to mint attendance tokens (Marquee's minter key).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @dev Token ids start at 1 so that 0 never names a token.
    uint256 private _nextTokenId = 1;
    string private _base;
    mapping(uint256 tokenId => uint256 eventId) private _eventOf;
    mapping(uint256 eventId => mapping(address holder => bool minted)) private _attended;

    /// @notice A token of `eventId` was minted to `to`.
    event AttendanceMinted(uint256 indexed eventId, address indexed to, uint256 indexed tokenId);
    /// @notice The metadata base URI changed.
    event BaseURIUpdated(string baseURI);

    /// @notice `holder` already received the token of `eventId`.
    error AlreadyAttended(uint256 eventId, address holder);

    constructor(string memory baseURI_, address admin) ERC721("Marquee Attendance", "MQPOAP") {
        _base = baseURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mints the attendance token of `eventId` to `to`.
    function mint(uint256 eventId, address to) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        tokenId = _mintAttendance(eventId, to);
    }

    /// @notice Mints the attendance token of `eventId` to every address of `to`, in order.
    /// @return firstTokenId the id of the first token minted; the others follow consecutively.
    function mintBatch(uint256 eventId, address[] calldata to)
        external
        onlyRole(MINTER_ROLE)
        returns (uint256 firstTokenId)
    {
        firstTokenId = _nextTokenId;
        for (uint256 i = 0; i < to.length; ++i) {
            _mintAttendance(eventId, to[i]);
        }
    }

    /// @notice The event that `tokenId` attests attendance of.
    function eventOf(uint256 tokenId) external view returns (uint256) {
        _requireOwned(tokenId);
        return _eventOf[tokenId];
    }

    /// @notice Whether `holder` has received the token of `eventId`.
    function hasAttended(uint256 eventId, address holder) external view returns (bool) {
        return _attended[eventId][holder];
    }

    /// @notice Changes the metadata base URI; `tokenURI` is this base followed by the token id.
    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _base = baseURI_;
        emit BaseURIUpdated(baseURI_);
    }

    /// @inheritdoc ERC721
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    function _baseURI() internal view override returns (string memory) {
        return _base;
    }

    /// @dev `_mint` rather than `_safeMint`: a recipient's hook must not be able to sink a batch.
    function _mintAttendance(uint256 eventId, address to) private returns (uint256 tokenId) {
        if (_attended[eventId][to]) revert AlreadyAttended(eventId, to);
        _attended[eventId][to] = true;
        tokenId = _nextTokenId++;
        _eventOf[tokenId] = eventId;
        _mint(to, tokenId);
        emit AttendanceMinted(eventId, to, tokenId);
    }
}
