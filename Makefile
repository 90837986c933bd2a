# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install migrate lint bench clean interop

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

# Starts c2s (5222, STARTTLS), direct TLS (5223) and HTTP (5280) with a self-signed certificate.
# xmppd collects the static files (admin CSS/JS) into var/static first, when they are missing or
# changed (a few seconds the first time, milliseconds after).
run: migrate
	$(PY) manage.py xmppd

lint: install
	$(VENV)/bin/lint-imports

# The JavaScript clients of tests/interop (npm ci from package-lock.json) and Debian's Chromium
# for the headless-browser test.
INTEROP := tests/interop
$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund
	touch $@

interop: $(INTEROP)/node_modules/.package-lock.json
	test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: install lint interop
	$(PY) -m pytest -q

# Side by side with Prosody and ejabberd (see bench/README.md for the one-time setup).
bench: install
	bench/compare.sh 1

clean:
	rm -rf var $(VENV)
