//! Integration tests: a real Anvil, the real app on a random port, driven over HTTP.
#![allow(unreachable_pub)]

mod attendance;
mod auth;
mod contracts;
mod database;
mod delegation;
mod edge;
mod events;
mod fuzz;
mod gates;
mod helpers;
mod journey;
mod minting;
mod nodes;
mod rpc_batch;
mod rpc_log;
mod seats;
mod siwe_vectors;
mod stream;
mod tokens;
mod wallets;
