//! A whole gate in one `eth_call`, delegations included. The deployless `GateProbe` reads the
//! gate for the wallet through Multicall3 and lists the wallet's delegations; then, in the same
//! call, it makes the same per-account reads for each vault that delegated to the wallet and
//! reads the owners of the tokens lent one by one. Without it, a delegated viewer's vaults are
//! known only from the registry's answer and cost a second round trip.

use std::borrow::Cow;
use std::sync::LazyLock;

use alloy::primitives::{Address, Bytes};
use alloy::sol_types::{SolConstructor, SolType};

use crate::chain::batch::Params;
use crate::chain::bindings::{GateProbe, GateProbeAnswer, Multicall3};
use crate::chain::{Chain, ReadError, read};

/// Most vaults whose tickets one join reads.
pub const MAX_VAULTS: usize = 8;

/// One read's answer: the return data, or `None` when it reverted.
pub type Answer = Option<Bytes>;

/// What one probe read.
#[derive(Debug)]
pub struct Probe {
    /// The block the reads describe.
    pub block: u64,
    /// The answers to the wallet's reads, in order.
    pub own: Vec<Answer>,
    /// `getIncomingDelegations(wallet)`'s return data; `None` without a registry.
    pub delegations: Answer,
    /// The reads that depend on the delegations: each vault's per-account reads and the owners
    /// of lent tokens, each with its answer.
    dependent: Vec<((Address, Bytes), Answer)>,
}

impl Probe {
    /// The answers to a vault's `calls`, when the probe made every one of them: among the
    /// dependent reads, or the wallet's `own_calls` that name no account (owners of listed ids).
    /// Looked up only for a wallet with delegations, so most joins build nothing here.
    pub fn vault_answers(
        &self,
        wallet: Address,
        own_calls: &[(Address, Bytes)],
        calls: &[(Address, Bytes)],
    ) -> Option<Vec<Answer>> {
        let own = own_calls
            .iter()
            .zip(&self.own)
            .filter(|((_, data), _)| !names(data, wallet));
        let made = self.dependent.iter().map(|(c, a)| (c, a)).chain(own);
        calls
            .iter()
            .map(|c| made.clone().find(|(m, _)| *m == c).map(|(_, a)| a.clone()))
            .collect()
    }
}

/// Reads `calls`, a gate over `contracts` planned for `wallet`, through `multicall`, and again
/// for the vaults that `registry` says delegated to the wallet.
pub async fn run(
    chain: &Chain,
    multicall: Address,
    registry: Address,
    wallet: Address,
    calls: &[(Address, Bytes)],
    contracts: Vec<Address>,
) -> Result<Probe, ReadError> {
    let params = call_params(&constructor_args(
        multicall, registry, wallet, calls, contracts,
    ));
    let out = read(|| async {
        let call = chain.calls.call(params.clone());
        Ok::<_, alloy::contract::Error>(call.await?)
    })
    .await
    .inspect_err(|e| {
        if *e == ReadError::Reverted {
            // Multicall3 missing, or a registry that is not one: a deployment fault, and
            // nobody is let in on a guess.
            tracing::error!(multicall3 = %multicall, delegate_registry = %registry, "the gate's reads revert");
        }
    })
    .map_err(|_| ReadError::Unavailable)?;
    let answer = GateProbeAnswer::abi_decode(&out).map_err(|_| ReadError::Unavailable)?;
    if answer.own.len() != calls.len() || answer.calls.len() != answer.results.len() {
        return Err(ReadError::Unavailable);
    }
    let dependent = answer
        .calls
        .into_iter()
        .zip(answer.results)
        .map(|(call, result)| ((call.target, call.callData), ok(result)))
        .collect();
    Ok(Probe {
        block: u64::try_from(answer.blockNumber).map_err(|_| ReadError::Unavailable)?,
        own: answer.own.into_iter().map(ok).collect(),
        delegations: ok(answer.delegations),
        dependent,
    })
}

/// The hex of `GateProbe`'s creation code, the first 9 KB of every probe's parameters.
static CODE_HEX: LazyLock<String> = LazyLock::new(|| alloy::hex::encode(&GateProbe::BYTECODE));

/// `eth_call`'s parameters for [`creation_call`] with constructor arguments `args`, written
/// out: the creation code's hex is made once and borrowed by every call's request, where a
/// `TransactionRequest` would be hex-encoded and then scanned for escapes on every join.
fn call_params(args: &[u8]) -> Params {
    // The block named, as Multicall3's binding does: without it Anvil answers for the pending
    // block, whose number is one past the state read.
    let (head, tail) = (r#"[{"input":"0x"#, r#""},"latest"]"#);
    let mut args_hex = String::with_capacity(2 * args.len() + tail.len());
    args_hex.push_str(&alloy::hex::encode(args));
    args_hex.push_str(tail);
    // Hex digits between the quotes: the pieces make a JSON array.
    Params::from_pieces(vec![
        Cow::Borrowed(head),
        Cow::Borrowed(CODE_HEX.as_str()),
        Cow::Owned(args_hex),
    ])
}

/// The deployless call's data: `GateProbe`'s creation code and its query (see [`run`]).
pub fn creation_call(
    multicall: Address,
    registry: Address,
    wallet: Address,
    calls: &[(Address, Bytes)],
    contracts: Vec<Address>,
) -> Bytes {
    let mut code = GateProbe::BYTECODE.to_vec();
    code.extend_from_slice(&constructor_args(
        multicall, registry, wallet, calls, contracts,
    ));
    code.into()
}

/// `GateProbe`'s constructor arguments: the query.
fn constructor_args(
    multicall: Address,
    registry: Address,
    wallet: Address,
    calls: &[(Address, Bytes)],
    contracts: Vec<Address>,
) -> Vec<u8> {
    let reads = calls
        .iter()
        .map(|(target, data)| GateProbe::Read {
            target: *target,
            callData: data.clone(),
            perAccount: names(data, wallet),
        })
        .collect();
    let query = GateProbe::Query {
        multicall,
        registry,
        wallet,
        reads,
        contracts,
        maxVaults: alloy::primitives::U256::from(MAX_VAULTS),
    };
    GateProbe::constructorCall { q: query }.abi_encode()
}

/// Whether a read is made for `account`: the word after its selector is the account, as in
/// every `balanceOf` and `tokenOfOwnerByIndex`. A token id equal to the account's number would
/// pass too; then the vault's read is missing and the checker reads it in a second call.
fn names(data: &[u8], account: Address) -> bool {
    data.get(4..36) == Some(account.into_word().as_slice())
}

fn ok(r: Multicall3::Result) -> Answer {
    r.success.then_some(r.returnData)
}
