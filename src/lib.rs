//! Marquee: token-gated film screenings with Sign-In with Ethereum and attendance POAPs.

pub mod app;
pub mod auth;
pub mod chain;
pub mod cli;
pub mod config;
pub mod dev;
pub mod error;
pub mod gate;
pub mod http;
pub mod model;
pub mod poap;
pub mod store;
pub mod stream;
pub mod time_util;
pub mod workers;
