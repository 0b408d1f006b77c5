# The two commands a newcomer needs: `make demo` (the service's main job) and `make test`.
# Every target sets itself up: a venv for the app (.venv) and one for aws-sam-cli (.venv-sam).
SHELL := /bin/bash
export PYENV_VERSION ?= 3.13.0
PYTHON ?= $(shell command -v python3.13 || echo python3)
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
PORT ?= 3000
# sam build looks for python3.13 on PATH; the app's venv provides one.
SAM_PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The browser tests drive Debian's chromium; `make chromium` installs it where it is missing.
CHROMIUM := /usr/bin/chromium
# `make deploy-web` reads the outputs of this stack (samconfig.toml's stack_name).
STACK ?= opd-token-service

.PHONY: all setup test check sizes fmt lint typecheck unit pytest chromium axe sam-validate sam-build deploy-web serve invoke reset seed backfill-reports openapi demo bench clean

all: test

$(VENV)/.installed: requirements-dev.txt layers/allocator/requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), f"Python 3.13 is needed, found {sys.version}"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	@touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed

test: setup check pytest sam-validate sam-build

check: lint typecheck sizes

# No product module passes 500 lines: one that does holds more than one concept (README, Architecture).
MAX_MODULE_LINES := 500
sizes:
	@find layers/allocator/opd functions -name '*.py' -print0 | xargs -0 wc -l \
	  | awk '$$2 != "total" && $$1 > $(MAX_MODULE_LINES) {print $$2 ": " $$1 " lines, more than $(MAX_MODULE_LINES)"; bad = 1} \
	         END {exit bad}'

# Rewrites the tree as `make lint` wants it: safe ruff fixes, then the formatter.
fmt: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy layers/allocator functions devserver demo tests benchmarks

# Coverage of the layer and the functions (what runs in Lambda) is printed with the results.
pytest: $(VENV)/.installed $(SAM_VENV)/.installed chromium axe
	$(PY) -m pytest -n 2 --dist loadgroup --cov=layers/allocator/opd --cov=functions --cov-report=term:skip-covered $(PYTEST_ARGS)

# Debian's chromium for tests/browser (CI runs as root), and Noto for the Devanagari and Tamil names and texts it
# shows (without it they render as empty boxes). Never `playwright install`: it downloads a browser.
NOTO := /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf
chromium:
	@if [ ! -x $(CHROMIUM) ] || [ ! -f $(NOTO) ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing: sudo apt-get install -y chromium fonts-noto-core" >&2; exit 1; fi; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-core; \
	fi

# axe-core (npm, the version tests/browser/package-lock.json pins) for the browser tests' accessibility checks.
AXE := tests/browser/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	@touch $@

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

sam-validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint

# The layer is built for arm64 on any machine (layers/allocator/Makefile); the check fails on any binary
# in it that is not aarch64.
sam-build: $(SAM_VENV)/.installed $(VENV)/.installed
	PATH="$(SAM_PATH)" $(SAM) build --cached
	$(PY) -m devserver.layer_check .aws-sam/build/AllocatorLayer --arch aarch64

# The pages to the stack's bucket (with their catalogs, i18n-<code>.json, and web/vendor/: the slips' QR library
# and its licence), with a config.json made from the stack's outputs (HospitalName included; web/config.json
# stays empty: that is the local setting), then a CloudFront invalidation.
# Needs the AWS CLI and a deployed stack.
deploy-web:
	@set -euo pipefail; \
	output() { aws cloudformation describe-stacks --stack-name "$(STACK)" \
	  --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	bucket=$$(output WebBucketName); pages=$$(output WebUrl); \
	aws s3 sync web/ "s3://$$bucket/" --delete --exclude '*' --include '*.html' --include '*.js' --include '*.css' --include 'i18n-*.json' --include 'vendor/*'; \
	printf '{"apiBase": "%s", "cognitoDomain": "%s", "clientId": "%s", "redirectUri": "%s/desk.html", "hospitalName": "%s"}\n' \
	  "$$(output ApiUrl)" "$$(output CognitoDomain)" "$$(output DeskClientId)" "$$pages" "$$(output HospitalName)" \
	  | aws s3 cp - "s3://$$bucket/config.json" --content-type application/json; \
	aws cloudfront create-invalidation --distribution-id "$$(output WebDistributionId)" --paths '/*' > /dev/null; \
	echo "desk: $$pages/desk.html   board: $$pages/board.html?doctors=<doctor id>"

serve: $(VENV)/.installed
	$(PY) -m devserver.runner --port $(PORT)

# `sam local invoke` without Docker: one function of the template (its logical id) with an event file, its
# result as JSON on stdout (the command is not echoed, so stdout is the result alone; logs go to stderr).
invoke: $(VENV)/.installed
	@if [ -z "$(FN)" ] || [ -z "$(EVENT)" ]; then \
	  echo "usage: make invoke FN=<function logical id, e.g. HealthFunction> EVENT=events/<file>.json" >&2; exit 2; \
	fi
	@$(PY) -m devserver.invoke "$(FN)" "$(EVENT)"

seed: $(VENV)/.installed
	$(PY) -m demo.seed --url http://127.0.0.1:$(PORT)

# Daily reports (issue 23) for past days that have none (from before the reports, or a sweeper stopped for over a
# day): the sweeper's backfill event, run as `make invoke` runs it, against the database of MONGODB_URI (the runner's
# or a deployed stack's). FROM and TO are clinic dates, at most 92 days (default: the 92 up to yesterday); a run that
# answers "finished": false goes on with FROM=<its resumeFrom>. In AWS: invoke SweepNoShowsFunction with the same event.
backfill-reports: $(VENV)/.installed
	@if [ -z "$$MONGODB_URI" ]; then echo "usage: MONGODB_URI=mongodb://... make backfill-reports [FROM=YYYY-MM-DD] [TO=YYYY-MM-DD]" >&2; exit 2; fi
	@event=$$(mktemp); trap 'rm -f "$$event"' EXIT; \
	  FROM="$(FROM)" TO="$(TO)" $(PY) -c 'import json, os; print(json.dumps({"backfill": {k: os.environ[k.upper()] for k in ("from", "to") if os.environ[k.upper()]}}))' > "$$event"; \
	  $(PY) -m devserver.invoke SweepNoShowsFunction "$$event"

reset:
	rm -rf .local/data

openapi: $(VENV)/.installed
	$(PY) -m devserver.openapi --write docs/openapi.json

# The day's pictures of the board and the desk are taken in Debian's chromium, as the browser tests are.
demo: $(VENV)/.installed chromium
	$(PY) -m demo

# The figures of README's Performance section: round trips, the rushes (the hot slot 1 x 200 among them),
# cold imports from sam build's output, and the cost model (measures each handler's CPU, then prices it).
bench: $(VENV)/.installed sam-build
	$(PY) benchmarks/round_trips.py
	$(PY) benchmarks/sessions.py
	$(PY) benchmarks/leave.py
	$(PY) benchmarks/reports.py
	$(PY) benchmarks/rush.py --repeats 5
	$(PY) benchmarks/cold_start.py --built
	$(PY) benchmarks/cost.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
