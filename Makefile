# litellm-formula: every set-up step lives here or in scripts/; run as root on Debian 12.
.PHONY: test demo demo-keep lint deps bench lock

## Run lint and the whole test suite inside a throwaway systemd container.
test:
	scripts/test.sh $(PYTEST_ARGS)

## Deploy the formula masterless in a throwaway container, show health and a chat completion.
demo:
	scripts/demo.sh

## Same, but leave the container running (prints how to enter it and tear it down).
demo-keep:
	scripts/demo.sh --keep

lint:
	scripts/lint.sh

deps:
	scripts/deps.sh

## Benchmarks: formula vs LiteLLM's defaults and server modes, side by side (prints a markdown table).
bench:
	bench/run.sh $(BENCH_ARGS)

## Write the hash-locked requirements of a LiteLLM release (litellm/files/default/locks/litellm-VERSION.txt):
## make lock VERSION=1.108.7 [LOCK_ARGS="--extra prisma==0.15.0"] (default extras: defaults.yaml).
lock:
	@test -n "$(VERSION)" || { echo "usage: make lock VERSION=1.108.7" >&2; exit 2; }
	tools/lock.py $(VERSION) $(LOCK_ARGS)
