//! How attendance tokens are named on chain: an event is the first 96 bits of its id, and a
//! token is `event << 160 | holder`, as AttendancePOAP computes it.

use alloy::primitives::{Address, U256};

/// Hex digits of an event id that name it on chain (96 bits).
const CHAIN_EVENT_HEX: usize = 24;

/// The uint96 event id on chain of a stored event id (its first 96 bits); `None` if the id is
/// not hex.
pub fn chain_event_id(event_id: &str) -> Option<U256> {
    let head = event_id.get(..CHAIN_EVENT_HEX)?;
    U256::from_str_radix(head, 16).ok()
}

/// The token of `holder` for the chain event `event`.
pub fn token_id(event: U256, holder: Address) -> U256 {
    (event << 160) | U256::from_be_slice(holder.as_slice())
}

/// The chain event (as the hex prefix of stored event ids) and the holder a token was minted to.
/// Every uint256 splits (a token id is 256 bits: 96 of event, 160 of holder).
pub fn split_token(token_id: U256) -> (String, Address) {
    let bytes = token_id.to_be_bytes::<32>();
    (
        alloy::hex::encode(&bytes[..12]),
        Address::from_slice(&bytes[12..]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_id_holds_its_event_and_holder() {
        let event_id = "00c0ffee00000000000000017fffffffffffffffffffffffffffffffffffffff";
        let event = chain_event_id(event_id).unwrap();
        let holder: Address = "0x00000000000000000000000000000000000000a1"
            .parse()
            .unwrap();
        let id = token_id(event, holder);
        assert_eq!(split_token(id), (event_id[..24].to_string(), holder));
        assert_eq!(chain_event_id("not hex at all, not hex at all!!"), None);
    }
}
