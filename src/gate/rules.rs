//! Gate rules as organizers write them: `{ "any": [...] }` / `{ "all": [...] }` of token
//! conditions, nestable; parsed once at the edge with errors that name the part at fault.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{Address, U256};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// How deep `any`/`all` groups may nest.
const MAX_DEPTH: usize = 4;
/// How many conditions a gate may hold in all.
const MAX_CONDITIONS: usize = 32;

/// A uint256 written as a decimal string, as the API exchanges amounts and token ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dec(pub U256);

impl Dec {
    /// One.
    pub fn one() -> Self {
        Dec(U256::from(1))
    }
}

impl FromStr for Dec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{s:?} is not a decimal uint256"));
        }
        U256::from_str_radix(s, 10)
            .map(Dec)
            .map_err(|_| format!("{s:?} does not fit in uint256"))
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

/// One token condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Condition {
    /// Holds a token of an ERC-721 collection (any, or one of `token_ids`).
    Erc721 {
        /// The collection.
        #[serde(serialize_with = "crate::model::eip55")]
        contract: Address,
        /// Admitting ids; absent means any token of the collection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_ids: Option<Vec<Dec>>,
    },
    /// Holds at least `min_balance` of ERC-1155 token `token_id`.
    Erc1155 {
        /// The ERC-1155 contract.
        #[serde(serialize_with = "crate::model::eip55")]
        contract: Address,
        /// The token id.
        token_id: Dec,
        /// Minimum balance (default 1).
        #[serde(default = "Dec::one")]
        min_balance: Dec,
    },
    /// Holds at least `min_balance` base units of an ERC-20.
    Erc20 {
        /// The token.
        #[serde(serialize_with = "crate::model::eip55")]
        contract: Address,
        /// Minimum balance in base units.
        min_balance: Dec,
    },
}

impl Condition {
    /// The collection of an ERC-721 condition met by any of its tokens, whose held token must
    /// be found rather than read from a list.
    pub fn any_token_collection(&self) -> Option<Address> {
        match self {
            Condition::Erc721 {
                contract,
                token_ids: None,
            } => Some(*contract),
            _ => None,
        }
    }
}

/// A group of rules of which any one, or all, must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// At least one rule holds.
    Any(Vec<Rule>),
    /// Every rule holds.
    All(Vec<Rule>),
}

/// A member of a group: a condition or a nested group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Rule {
    /// A nested `any`/`all` group.
    Group(Gate),
    /// A token condition.
    Condition(Condition),
}

impl Gate {
    /// Appends every condition of the gate to `out`, depth first in the order written.
    pub fn conditions<'a>(&'a self, out: &mut Vec<&'a Condition>) {
        let (Gate::Any(rules) | Gate::All(rules)) = self;
        for rule in rules {
            match rule {
                Rule::Group(g) => g.conditions(out),
                Rule::Condition(c) => out.push(c),
            }
        }
    }

    /// The contracts the gate reads, each once.
    pub fn contracts(&self) -> Vec<Address> {
        let mut conditions = Vec::new();
        self.conditions(&mut conditions);
        let mut out: Vec<Address> = conditions.iter().map(|c| c.contract()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl<'de> Deserialize<'de> for Gate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let mut count = 0;
        parse_group(&value, "gate", 1, &mut count).map_err(D::Error::custom)
    }
}

fn parse_group(v: &Value, path: &str, depth: usize, count: &mut usize) -> Result<Gate, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: groups nest at most {MAX_DEPTH} deep"));
    }
    let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        format!("{path}: must be an object with exactly one key, \"any\" or \"all\"")
    })?;
    let (key, members) = obj.iter().next().expect("one key");
    let members = members
        .as_array()
        .ok_or_else(|| format!("{path}.{key}: must be an array"))?;
    if members.is_empty() {
        return Err(format!("{path}.{key}: must not be empty"));
    }
    let rules = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let here = format!("{path}.{key}[{i}]");
            if m.get("type").is_some() {
                *count += 1;
                if *count > MAX_CONDITIONS {
                    return Err(format!(
                        "{here}: a gate holds at most {MAX_CONDITIONS} conditions"
                    ));
                }
                let c = Condition::deserialize(m).map_err(|e| format!("{here}: {e}"))?;
                c.validate().map_err(|e| format!("{here}.{e}"))?;
                Ok(Rule::Condition(c))
            } else {
                parse_group(m, &here, depth + 1, count).map(Rule::Group)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    match key.as_str() {
        "any" => Ok(Gate::Any(rules)),
        "all" => Ok(Gate::All(rules)),
        other => Err(format!(
            "{path}: unknown key {other:?}; expected \"any\" or \"all\""
        )),
    }
}

impl Condition {
    fn validate(&self) -> Result<(), String> {
        match self {
            Condition::Erc721 {
                token_ids: Some(ids),
                ..
            } if ids.is_empty() || ids.len() > 100 => {
                Err("token_ids: list 1 to 100 ids, or leave it out for any token".into())
            }
            Condition::Erc1155 { min_balance, .. } | Condition::Erc20 { min_balance, .. }
                if min_balance.0.is_zero() =>
            {
                Err("min_balance: must be at least 1".into())
            }
            _ => Ok(()),
        }
    }

    /// The contract this condition reads.
    pub fn contract(&self) -> Address {
        match self {
            Condition::Erc721 { contract, .. }
            | Condition::Erc1155 { contract, .. }
            | Condition::Erc20 { contract, .. } => *contract,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Gate, String> {
        serde_json::from_value::<Gate>(v).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_nested_gates_and_round_trips() {
        let v = json!({ "any": [
            { "type": "erc721", "contract": "0x5fbdb2315678afecb367f032d93f642f64180aa3" },
            { "all": [
                { "type": "erc1155", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "token_id": "7" },
                { "type": "erc20", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                  "min_balance": "115792089237316195423570985008687907853269984665640564039457584007913129639935" }
            ]}
        ]});
        let g = parse(v).unwrap();
        let out = serde_json::to_value(&g).unwrap();
        assert_eq!(
            out["any"][0]["contract"],
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        assert_eq!(out["any"][1]["all"][0]["min_balance"], "1");
        assert_eq!(parse(out).unwrap(), g);
    }

    #[test]
    fn errors_name_the_part_at_fault() {
        let e = parse(json!({ "any": [{ "type": "erc999", "contract": "0x00" }] })).unwrap_err();
        assert!(e.contains("gate.any[0]"), "{e}");
        let e = parse(json!({ "any": [{ "all": [{ "type": "erc20", "contract": "0xzz", "min_balance": "1" }] }] })).unwrap_err();
        assert!(e.contains("gate.any[0].all[0]"), "{e}");
        let e = parse(json!({ "all": [] })).unwrap_err();
        assert!(e.contains("must not be empty"), "{e}");
        let e = parse(json!({ "any": [{ "type": "erc20", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "min_balance": "-1" }] })).unwrap_err();
        assert!(e.contains("decimal"), "{e}");
        let e = parse(json!({ "any": [{ "type": "erc20", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "min_balance": "1", "extra": 1 }] })).unwrap_err();
        assert!(e.contains("extra"), "{e}");
    }

    #[test]
    fn decimal_strings_are_exact() {
        assert!(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"
                .parse::<Dec>()
                .is_err()
        );
        assert!("1e18".parse::<Dec>().is_err());
        assert_eq!(
            "1000000000000000000".parse::<Dec>().unwrap().0,
            U256::from(10u64.pow(18))
        );
    }
}
