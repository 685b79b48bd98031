// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ScreeningPass
/// @notice A plain (not enumerable) ERC-721 ticket collection for demos and tests; the owner mints.
contract ScreeningPass is ERC721, Ownable {
    uint256 private _nextTokenId = 1;

    constructor(string memory name_, string memory symbol_, address owner_) ERC721(name_, symbol_) Ownable(owner_) {}

    /// @notice Mints the next ticket to `to` and returns its id.
    function mint(address to) external onlyOwner returns (uint256 tokenId) {
        tokenId = _nextTokenId++;
        _safeMint(to, tokenId);
    }
}
