// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice EIP-5192: minimal soulbound NFTs.
interface IERC5192 {
    /// @notice The token can no longer be transferred.
    event Locked(uint256 tokenId);
    /// @notice The token can be transferred again.
    event Unlocked(uint256 tokenId);

    /// @notice Whether `tokenId` is bound to its holder.
    function locked(uint256 tokenId) external view returns (bool);
}

/// @title AttendancePOAP
/// @notice Attendance tokens of Marquee screenings.
/// @dev A token's id is `eventId << 160 | holder`: the event of every token and the rule "one
/// token per (event, holder)" live in the id itself, so a mint writes only the owner and the
/// balance (the two writes of any ERC-721 mint) and the event's packed counter. An event
/// (its issuer, supply cap, minted count and soulbound flag) fits one storage slot, so the
/// mint path reads one slot to authorise, cap and lock.
contract AttendancePOAP is ERC721, AccessControl, EIP712, IERC5192 {
    /// @notice Role allowed to create events (Marquee's minter key).
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice EIP-712 type of a voucher that lets `recipient` mint the token of `eventId`.
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Attendance(uint256 eventId,address recipient,uint256 deadline,uint256 nonce)");

    /// @dev One slot: 160 + 40 + 40 + 8 bits. `minted` is counted under a cap only: an uncapped
    /// event's mints skip that write (its count is the number of its Transfer logs).
    struct EventInfo {
        address issuer;
        uint40 maxSupply; // 0: no cap
        uint40 minted;
        bool soulbound;
    }

    mapping(uint256 eventId => EventInfo) private _events;
    /// @dev Used voucher nonces, 256 to a word.
    mapping(uint256 word => uint256 bits) private _usedNonces;
    string private _base;

    /// @notice `eventId` was created; `issuer` mints its tokens and signs its vouchers.
    event EventCreated(uint256 indexed eventId, address indexed issuer, uint256 maxSupply, bool soulbound);
    /// @notice The issuer or the supply cap of `eventId` changed.
    event EventUpdated(uint256 indexed eventId, address indexed issuer, uint256 maxSupply);
    /// @notice Voucher nonce `nonce` was used or cancelled.
    event NonceUsed(uint256 indexed nonce);
    /// @notice ERC-4906: the metadata of a range of tokens changed.
    event BatchMetadataUpdate(uint256 fromTokenId, uint256 toTokenId);

    /// @notice The event does not exist.
    error UnknownEvent(uint256 eventId);
    /// @notice The event already exists.
    error EventExists(uint256 eventId);
    /// @notice Event ids are 96-bit numbers.
    error EventIdTooLarge(uint256 eventId);
    /// @notice `account` is not the issuer of `eventId`.
    error NotIssuer(uint256 eventId, address account);
    /// @notice `holder` already received the token of `eventId`.
    error AlreadyAttended(uint256 eventId, address holder);
    /// @notice Every token of `eventId` has been given.
    error SoldOut(uint256 eventId);
    /// @notice The cap cannot go below the tokens already minted.
    error CapBelowMinted(uint256 eventId, uint256 minted);
    /// @notice A cap can be moved, not added to or removed from an event.
    error CapChange(uint256 eventId);
    /// @notice Tokens of a soulbound event cannot move.
    error Soulbound(uint256 tokenId);
    /// @notice The voucher's deadline has passed.
    error VoucherExpired(uint256 deadline);
    /// @notice The voucher's nonce was used or cancelled.
    error VoucherUsed(uint256 nonce);
    /// @notice The voucher was not signed by the event's issuer.
    error BadVoucherSignature();

    constructor(string memory baseURI_, address admin)
        ERC721("Marquee Attendance", "MQPOAP")
        EIP712("Marquee Attendance", "1")
    {
        _base = baseURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ISSUER_ROLE, admin);
    }

    // ---- events ----

    /// @notice Creates `eventId` with `issuer` as its minter and voucher signer.
    /// @param maxSupply most tokens of the event, 0 for no cap.
    function createEvent(uint256 eventId, address issuer, uint40 maxSupply, bool soulbound)
        external
        onlyRole(ISSUER_ROLE)
    {
        if (eventId >> 96 != 0) revert EventIdTooLarge(eventId);
        if (_events[eventId].issuer != address(0)) revert EventExists(eventId);
        if (issuer == address(0)) revert NotIssuer(eventId, issuer);
        _events[eventId] = EventInfo(issuer, maxSupply, 0, soulbound);
        emit EventCreated(eventId, issuer, maxSupply, soulbound);
    }

    /// @notice Changes the issuer of `eventId`, or moves its cap (never below the tokens minted);
    /// whether it has a cap, and whether it is soulbound, stay as created.
    function updateEvent(uint256 eventId, address issuer, uint40 maxSupply) external onlyRole(ISSUER_ROLE) {
        EventInfo storage e = _existing(eventId);
        if (issuer == address(0)) revert NotIssuer(eventId, issuer);
        // An uncapped event kept no count, so it cannot take a cap later.
        if ((maxSupply == 0) != (e.maxSupply == 0)) revert CapChange(eventId);
        if (maxSupply < e.minted) revert CapBelowMinted(eventId, e.minted);
        (e.issuer, e.maxSupply) = (issuer, maxSupply);
        emit EventUpdated(eventId, issuer, maxSupply);
    }

    /// @notice The issuer, cap, minted count (kept under a cap only) and soulbound flag of `eventId`.
    function eventInfo(uint256 eventId)
        external
        view
        returns (address issuer, uint256 maxSupply, uint256 minted, bool soulbound)
    {
        EventInfo memory e = _events[eventId];
        return (e.issuer, e.maxSupply, e.minted, e.soulbound);
    }

    // ---- minting ----

    /// @notice Mints the token of `eventId` to `to`; reverts if `to` has it or the event is sold out.
    function mint(uint256 eventId, address to) external returns (uint256 tokenId) {
        EventInfo memory info = _events[eventId];
        if (info.issuer != msg.sender) {
            if (info.issuer == address(0)) revert UnknownEvent(eventId);
            revert NotIssuer(eventId, msg.sender);
        }
        tokenId = tokenIdOf(eventId, to);
        _mintOne(info, eventId, to, tokenId);
    }

    /// @notice Mints the token of `eventId` to each address of `to`, skipping the zero address,
    /// holders who already have it (also when listed twice) and everyone past the supply cap, so
    /// that no single address can sink the batch.
    /// @return minted how many tokens were minted.
    function mintBatch(uint256 eventId, address[] calldata to) external returns (uint256 minted) {
        EventInfo storage e = _issuedBy(eventId, msg.sender);
        (uint256 cap, uint256 count, bool soulbound) = (e.maxSupply, e.minted, e.soulbound);
        uint256 prefix = eventId << 160;
        for (uint256 i = 0; i < to.length; ++i) {
            if (cap != 0 && count + minted >= cap) break;
            address holder = to[i];
            uint256 tokenId = prefix | uint160(holder);
            if (holder == address(0) || _ownerOf(tokenId) != address(0)) continue;
            _mint(holder, tokenId);
            if (soulbound) emit Locked(tokenId);
            ++minted;
        }
        // One write of the counter for the whole batch.
        if (cap != 0 && minted != 0) e.minted = uint40(count + minted);
    }

    /// @notice Mints the token of `eventId` to `recipient` with a voucher signed by the event's
    /// issuer (EIP-712, domain bound to this chain and contract). Anyone may submit it.
    function redeem(uint256 eventId, address recipient, uint256 deadline, uint256 nonce, bytes calldata signature)
        external
        returns (uint256 tokenId)
    {
        if (block.timestamp > deadline) revert VoucherExpired(deadline);
        EventInfo memory info = _events[eventId];
        if (info.issuer == address(0)) revert UnknownEvent(eventId);
        bytes32 digest = voucherDigest(eventId, recipient, deadline, nonce);
        if (!SignatureChecker.isValidSignatureNow(info.issuer, digest, signature)) revert BadVoucherSignature();
        _useNonce(nonce);
        tokenId = tokenIdOf(eventId, recipient);
        _mintOne(info, eventId, recipient, tokenId);
    }

    /// @notice Cancels voucher nonce `nonce` before anyone redeems it.
    function cancelVoucher(uint256 nonce) external onlyRole(ISSUER_ROLE) {
        _useNonce(nonce);
    }

    /// @notice Whether voucher nonce `nonce` was used or cancelled.
    function nonceUsed(uint256 nonce) public view returns (bool) {
        return _usedNonces[nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice The EIP-712 digest a voucher's issuer signs.
    function voucherDigest(uint256 eventId, address recipient, uint256 deadline, uint256 nonce)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, eventId, recipient, deadline, nonce)));
    }

    // ---- reading ----

    /// @notice The id of the token of `eventId` for `holder`.
    function tokenIdOf(uint256 eventId, address holder) public pure returns (uint256) {
        return (eventId << 160) | uint160(holder);
    }

    /// @notice The event that `tokenId` attests attendance of.
    function eventOf(uint256 tokenId) external view returns (uint256) {
        _requireOwned(tokenId);
        return tokenId >> 160;
    }

    /// @notice Whether `holder` has received the token of `eventId` (even if it moved on since).
    function hasAttended(uint256 eventId, address holder) external view returns (bool) {
        return _ownerOf(tokenIdOf(eventId, holder)) != address(0);
    }

    /// @inheritdoc IERC5192
    function locked(uint256 tokenId) external view returns (bool) {
        _requireOwned(tokenId);
        return _events[tokenId >> 160].soulbound;
    }

    /// @notice Changes the metadata base URI; `tokenURI` is this base followed by the token id.
    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _base = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    /// @notice ERC-165: ERC-721 (with metadata), AccessControl, ERC-4906 and EIP-5192.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return interfaceId == bytes4(0x49064906) || interfaceId == type(IERC5192).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ---- internals ----

    function _baseURI() internal view override returns (string memory) {
        return _base;
    }

    /// @dev Soulbound tokens may be minted but never moved.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        if (from != address(0) && _events[tokenId >> 160].soulbound) revert Soulbound(tokenId);
    }

    /// @dev `_mint`, never `_safeMint`: a recipient's hook must not be able to sink a batch.
    /// @dev `info` is the event as read once by the caller. `_mint`'s steps are taken here so
    /// that the owner is read once, telling "already has one" apart from other failures.
    function _mintOne(EventInfo memory info, uint256 eventId, address to, uint256 tokenId) private {
        if (info.maxSupply != 0) {
            if (info.minted >= info.maxSupply) revert SoldOut(eventId);
            EventInfo storage e = _events[eventId];
            // minted < maxSupply < 2^40, so adding one at its offset (bit 200) never carries.
            assembly ("memory-safe") {
                sstore(e.slot, add(sload(e.slot), shl(200, 1)))
            }
        }
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        if (_update(to, tokenId, address(0)) != address(0)) revert AlreadyAttended(eventId, to);
        if (info.soulbound) emit Locked(tokenId);
    }

    function _existing(uint256 eventId) private view returns (EventInfo storage e) {
        e = _events[eventId];
        if (e.issuer == address(0)) revert UnknownEvent(eventId);
    }

    function _issuedBy(uint256 eventId, address account) private view returns (EventInfo storage e) {
        e = _existing(eventId);
        if (e.issuer != account) revert NotIssuer(eventId, account);
    }

    function _useNonce(uint256 nonce) private {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 bits = _usedNonces[nonce >> 8];
        if (bits & bit != 0) revert VoucherUsed(nonce);
        _usedNonces[nonce >> 8] = bits | bit;
        emit NonceUsed(nonce);
    }
}
