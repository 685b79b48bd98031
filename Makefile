# Marquee — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

TOOLKIT := anvil
NPM_STAMP := $(TOOLKIT)/node_modules/.package-lock.json
FORGE := $(abspath $(TOOLKIT)/node_modules/.bin/forge)

.PHONY: help deps nginx run test test-contracts gas test-rust test-postgres bench bench-tools fuzz contracts lint media clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

deps: $(NPM_STAMP) nginx ## Install the pinned chain toolkit (Anvil, Forge, Cast, solc-js, OpenZeppelin) and nginx when missing

# Installs Debian's packages $(1) with apt-get (through sudo unless root).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null

nginx: ## Install nginx, the edge that `make run EDGE=1` and the tests serve segments through, when missing
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { $(call APT_INSTALL,nginx); }

$(NPM_STAMP): $(TOOLKIT)/package.json $(TOOLKIT)/package-lock.json
	cd $(TOOLKIT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: deps ## Run everything on Anvil with a demo event (prints the URL and demo wallet keys); EDGE=1 adds the nginx edge
	cargo build --bin marquee
	./target/debug/marquee dev $(if $(EDGE),--edge)

test: deps test-contracts test-rust $(if $(MARQUEE_TEST_POSTGRES),test-postgres) ## Run every test (forge and cargo; the integration suite on PostgreSQL too when MARQUEE_TEST_POSTGRES is set)

test-contracts: deps ## Forge tests of the contracts (offline, through solc-js)
	cd contracts && $(FORGE) test

gas: deps ## Gas report of the contracts: every function's cost in the forge tests
	cd contracts && $(FORGE) test --gas-report

test-rust: deps ## Rust unit and integration tests (real Anvil, real app over HTTP, SQLite)
	env -u MARQUEE_TEST_POSTGRES cargo test --all-targets

test-postgres: deps ## The integration suite on PostgreSQL: MARQUEE_TEST_POSTGRES=postgres://user@host:port/db (each test creates and drops a database there)
	@[ -n "$$MARQUEE_TEST_POSTGRES" ] || { echo "set MARQUEE_TEST_POSTGRES, e.g. postgres://postgres@127.0.0.1:5432/test" >&2; exit 2; }
	cargo test --test api

bench: deps bench-tools ## Performance figures beside their baselines (release build; sections auth, join, stream, claims, scale)
	cargo bench --bench marquee

bench-tools: deps ## Install the load generator of the stream section (wrk) when missing
	@command -v wrk >/dev/null || { $(call APT_INSTALL,wrk); }

fuzz: deps ## Property tests of the SIWE parser, token checks and HTTP edge with many cases (MARQUEE_FUZZ_CASES)
	MARQUEE_FUZZ_CASES=$${MARQUEE_FUZZ_CASES:-100000} cargo test --release --test api fuzz:: -- --nocapture

contracts: deps ## Rebuild the contracts and refresh the committed artifacts in contracts/out
	cd contracts && $(FORGE) build
	node $(TOOLKIT)/artifacts.mjs target/forge/out contracts/out

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

media: ## Regenerate media/demo (needs ffmpeg): 30 s test pattern with a 440 Hz tone, 4 s HLS segments
	rm -f media/demo/*.ts media/demo/index.m3u8
	cd media/demo && ffmpeg -hide_banner -loglevel error \
	  -f lavfi -i "testsrc2=size=426x240:rate=24" -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 30 \
	  -c:v libx264 -preset veryfast -profile:v baseline -pix_fmt yuv420p -b:v 300k -maxrate 300k -bufsize 600k \
	  -g 48 -keyint_min 48 -sc_threshold 0 -c:a aac -b:a 48k -ac 1 \
	  -f hls -hls_time 4 -hls_playlist_type vod -hls_segment_filename 'seg%03d.ts' index.m3u8

clean: ## Remove build output and the dev chain's state
	cargo clean
	rm -rf $(TOOLKIT)/dev-state.json $(TOOLKIT)/dev.json $(TOOLKIT)/edge marquee.db marquee.db-*
