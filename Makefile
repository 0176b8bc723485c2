# Thin wrappers over infra/ scripts (the scripts are the source of truth).
.PHONY: test bench package coldstart lambda-smoke

test:
	bash infra/test.sh

# Every benchmark, one report: docs/bench/report.md (+ report.json, PNG charts).
bench:
	bash infra/bench.sh

package:
	bash infra/package.sh

coldstart:
	bash infra/coldstart.sh

lambda-smoke:
	bash infra/lambda-smoke.sh

# Every cargo-fuzz target for FUZZ_SECONDS each (default 60); see docs/fuzzing.md.
.PHONY: fuzz
fuzz:
	bash infra/fuzz.sh
