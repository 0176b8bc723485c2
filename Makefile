# Thin wrappers over infra/ scripts (the scripts are the source of truth).
.PHONY: test package coldstart lambda-smoke

test:
	bash infra/test.sh

package:
	bash infra/package.sh

coldstart:
	bash infra/coldstart.sh

lambda-smoke:
	bash infra/lambda-smoke.sh
